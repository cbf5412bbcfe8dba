//! Server-rendered SVG line charts of metric series (steps on the x axis), downsampled so a
//! series of any length draws with a bounded number of points.

use std::fmt::Write as _;

use crate::html::{esc, number};

/// Buckets per series: at most two points (the lowest and the highest) are kept from each.
pub(crate) const BUCKETS: usize = 500;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Line colours, one per series in order (fixed strings, never user text).
const COLOURS: [&str; 8] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f",
];

/// One line: a label and its `(step, value)` points in step order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Keeps the first and last point and, from each of `buckets` equal runs of points, the
/// lowest and the highest (in their original order), so spikes survive. Series of at most
/// `2 * buckets + 2` points are returned unchanged; non-finite values are dropped first.
pub fn downsample(points: &[(f64, f64)], buckets: usize) -> Vec<(f64, f64)> {
    let finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let buckets = buckets.max(1);
    if finite.len() <= 2 * buckets + 2 {
        return finite;
    }
    let inner = &finite[1..finite.len() - 1];
    let size = inner.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(2 * buckets + 2);
    out.push(finite[0]);
    for chunk in inner.chunks(size) {
        let mut low = 0;
        let mut high = 0;
        for (index, point) in chunk.iter().enumerate() {
            if point.1 < chunk[low].1 {
                low = index;
            }
            if point.1 > chunk[high].1 {
                high = index;
            }
        }
        let (first, second) = if low <= high {
            (low, high)
        } else {
            (high, low)
        };
        out.push(chunk[first]);
        if second != first {
            out.push(chunk[second]);
        }
    }
    out.push(finite[finite.len() - 1]);
    out
}

/// An SVG chart of the series overlaid (each downsampled), with axis ranges and a legend.
pub fn line_chart(title: &str, series: &[Series]) -> String {
    let drawn: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|s| (s.label.as_str(), downsample(&s.points, BUCKETS)))
        .collect();
    let all = drawn.iter().flat_map(|(_, points)| points.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    let total: usize = series.iter().map(|s| s.points.len()).sum();
    let mut out = format!(
        "<figure class=\"chart\"><figcaption>{} <small>({} points)</small></figcaption>\
         <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        total,
        esc(title)
    );
    if x_min > x_max {
        out.push_str("<text x=\"20\" y=\"40\">no numeric values</text></svg></figure>");
        return out;
    }
    if x_max == x_min {
        x_max = x_min + 1.0;
    }
    if y_max == y_min {
        y_max = y_min + 1.0;
        y_min -= 1.0;
    }
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| LEFT + (x - x_min) / (x_max - x_min) * plot_w;
    let sy = |y: f64| TOP + (1.0 - (y - y_min) / (y_max - y_min)) * plot_h;
    let _ = write!(
        out,
        "<rect class=\"plot\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#ccc\"/>\
         <text class=\"axis\" x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{y_max}</text>\
         <text class=\"axis\" x=\"{lx}\" y=\"{by}\" text-anchor=\"end\">{y_min}</text>\
         <text class=\"axis\" x=\"{LEFT}\" y=\"{xy}\">{x_min}</text>\
         <text class=\"axis\" x=\"{rx}\" y=\"{xy}\" text-anchor=\"end\">{x_max}</text>\
         <text class=\"axis\" x=\"{mx}\" y=\"{xy}\" text-anchor=\"middle\">step</text>",
        lx = LEFT - 6.0,
        ty = TOP + 10.0,
        by = TOP + plot_h,
        xy = HEIGHT - 8.0,
        rx = WIDTH - RIGHT,
        mx = LEFT + plot_w / 2.0,
        y_max = esc(&number(y_max)),
        y_min = esc(&number(y_min)),
        x_min = esc(&number(x_min)),
        x_max = esc(&number(x_max)),
    );
    for (index, (_, points)) in drawn.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        if points.len() == 1 {
            let (x, y) = points[0];
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                sx(x),
                sy(y)
            );
            continue;
        }
        out.push_str("<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"");
        out.push_str(colour);
        out.push_str("\" points=\"");
        for &(x, y) in points {
            let _ = write!(out, "{:.1},{:.1} ", sx(x), sy(y));
        }
        out.push_str("\"/>");
    }
    out.push_str("</svg>");
    if drawn.len() > 1 {
        out.push_str("<ul class=\"legend\">");
        for (index, (label, _)) in drawn.iter().enumerate() {
            let colour_class = index % COLOURS.len();
            let _ = write!(
                out,
                "<li><span class=\"swatch c{colour_class}\"></span>{}</li>",
                esc(label)
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</figure>");
    out
}

/// The logged series of a run, by metric name in first-logged order: scalars by the step at
/// which they were logged (1, 2, …), lists by their index. Non-numeric values are skipped.
pub(crate) fn series_of(metrics: &[strata_store::Metric]) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for metric in metrics {
        let index = match series.iter().position(|(name, _)| *name == metric.name) {
            Some(index) => index,
            None => {
                series.push((metric.name.clone(), Vec::new()));
                series.len() - 1
            }
        };
        let points = &mut series[index].1;
        match &metric.value {
            serde_json::Value::Array(values) => {
                for (step, value) in values.iter().enumerate() {
                    if let Some(y) = value.as_f64() {
                        points.push((step as f64, y));
                    }
                }
            }
            value => {
                if let Some(y) = value.as_f64() {
                    let step = points.len() as f64 + 1.0;
                    points.push((step, y));
                }
            }
        }
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                (
                    i as f64,
                    (i as f64 / 50.0).sin() + if i == 4321 { 10.0 } else { 0.0 },
                )
            })
            .collect()
    }

    #[test]
    fn short_series_are_kept_whole() {
        let points = wave(100);
        assert_eq!(downsample(&points, 500), points);
    }

    #[test]
    fn ten_thousand_points_keep_the_ends_the_extremes_and_the_order() {
        let points = wave(10_000);
        let out = downsample(&points, 500);
        assert!(out.len() <= 2 * 500 + 2, "{} points", out.len());
        assert_eq!(out.first(), points.first());
        assert_eq!(out.last(), points.last());
        assert!(out.contains(&points[4321]), "the spike survives");
        let lowest = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert!(out.iter().any(|p| p.1 == lowest));
        assert!(
            out.windows(2).all(|w| w[0].0 < w[1].0),
            "steps stay in order"
        );
    }

    #[test]
    fn non_finite_values_are_dropped() {
        let out = downsample(&[(0.0, 1.0), (1.0, f64::NAN), (2.0, f64::INFINITY)], 10);
        assert_eq!(out, vec![(0.0, 1.0)]);
    }

    #[test]
    fn charts_escape_titles_and_bound_their_size() {
        let series = [Series {
            label: "<b>".into(),
            points: wave(10_000),
        }];
        let svg = line_chart("<script>alert(1)</script>", &series);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        let drawn = svg.matches(',').count();
        assert!(drawn <= 2 * BUCKETS + 2, "{drawn} points drawn");
        assert!(svg.contains("(10000 points)"));
    }

    #[test]
    fn series_number_scalars_by_step_and_lists_by_index() {
        let metric = |name: &str, value: serde_json::Value| strata_store::Metric {
            name: name.into(),
            kind: if value.is_array() { "list" } else { "scalar" }.into(),
            value,
            logged_at: 0,
        };
        let metrics = [
            metric("loss", 0.5.into()),
            metric("acc", 0.7.into()),
            metric("loss", 0.25.into()),
            metric("curve", serde_json::json!([1, 2, "x", 3])),
            metric("note", "text".into()),
        ];
        let series = series_of(&metrics);
        assert_eq!(series[0], ("loss".into(), vec![(1.0, 0.5), (2.0, 0.25)]));
        assert_eq!(series[1], ("acc".into(), vec![(1.0, 0.7)]));
        assert_eq!(series[2].1, vec![(0.0, 1.0), (1.0, 2.0), (3.0, 3.0)]);
        assert!(series[3].1.is_empty());
    }
}
