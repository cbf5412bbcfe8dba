//! HTML building blocks: escaping, links, the page layout, tables and pagination.
//!
//! Every string that comes from the workspace goes through [`esc`] before it reaches markup;
//! the markup itself is static text in this crate.

use std::fmt::Write as _;

/// Escapes text for HTML element content and for quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a secret a form sent is the expected one, in time independent of where they
/// differ.
pub fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A link target: `base` + `path` + the query `params`, URL-encoded (not yet HTML-escaped).
pub(crate) fn href(base: &str, path: &str, params: &[(&str, &str)]) -> String {
    let mut out = format!("{base}{path}");
    if !params.is_empty() {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in params {
            query.append_pair(key, value);
        }
        out.push('?');
        out.push_str(&query.finish());
    }
    out
}

/// `<a href="…">text</a>`, both escaped.
pub(crate) fn link(target: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(target), esc(text))
}

/// Which window of a list a page shows: `?page=` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: u64,
    pub per_page: u64,
}

/// The highest page number accepted, so an offset always fits SQLite's integers.
const MAX_PAGE: u64 = 1_000_000;

impl Paging {
    /// From a `?page=` value; anything that is not a positive number is page 1.
    pub fn parse(value: Option<&str>, per_page: u64) -> Self {
        let page = value
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&p| p >= 1)
            .map_or(1, |p| p.min(MAX_PAGE));
        Self { page, per_page }
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.per_page
    }

    /// The store query for this window and a search.
    pub fn query(&self, search: Option<&str>) -> strata_store::PageQuery {
        strata_store::PageQuery {
            search: search.map(str::to_string),
            offset: self.offset(),
            limit: self.per_page,
        }
    }

    /// "Previous" and "next" links that keep the other `params`.
    pub fn nav(&self, base: &str, path: &str, params: &[(&str, &str)], has_more: bool) -> String {
        let link_to = |page: u64| {
            let page = page.to_string();
            let mut all: Vec<(&str, &str)> = params
                .iter()
                .copied()
                .filter(|(k, _)| *k != "page")
                .collect();
            all.push(("page", &page));
            href(base, path, &all)
        };
        let mut out = String::from("<nav class=\"pager\">");
        if self.page > 1 {
            let _ = write!(out, "{} ", link(&link_to(self.page - 1), "← previous"));
        }
        let _ = write!(out, "<span>page {}</span>", self.page);
        if has_more {
            let _ = write!(out, " {}", link(&link_to(self.page + 1), "next →"));
        }
        out.push_str("</nav>");
        out
    }
}

/// A search box that submits `q` (and keeps `hidden` fields) to `path`.
pub(crate) fn search_form(base: &str, path: &str, search: &str, hidden: &[(&str, &str)]) -> String {
    let mut out = format!(
        "<form class=\"search\" method=\"get\" action=\"{}\">",
        esc(&format!("{base}{path}"))
    );
    for (name, value) in hidden {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(name),
            esc(value)
        );
    }
    let _ = write!(
        out,
        "<input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"search\" aria-label=\"search\"> <button type=\"submit\">Search</button></form>",
        esc(search)
    );
    out
}

/// A table: header cells are escaped, body cells are markup the caller built.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "<p class=\"empty\">Nothing here.</p>".to_string();
    }
    let mut out = String::from("<table><thead><tr>");
    for header in headers {
        let _ = write!(out, "<th>{}</th>", esc(header));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A two-column table of labels and markup values.
pub(crate) fn key_values(rows: &[(&str, String)]) -> String {
    let mut out = String::from("<table class=\"kv\"><tbody>");
    for (key, value) in rows {
        let _ = write!(out, "<tr><th>{}</th><td>{value}</td></tr>", esc(key));
    }
    out.push_str("</tbody></table>");
    out
}

/// Escaped text in `<code>`.
pub(crate) fn code(text: &str) -> String {
    format!("<code>{}</code>", esc(text))
}

/// A status as a coloured badge (the class is one of a fixed set, never user text).
pub(crate) fn status(text: &str) -> String {
    let class = match text {
        "Completed" | "Running" | "Succeeded" | "succeeded" | "running" => "ok",
        "Failed" | "failed" | "Canceled" => "bad",
        _ => "neutral",
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(text))
}

/// The whole document around `body`. `refresh` adds a meta refresh (log following).
pub(crate) fn layout(base: &str, title: &str, body: &str, refresh: Option<u32>) -> String {
    let refresh = refresh
        .map(|seconds| format!("<meta http-equiv=\"refresh\" content=\"{seconds}\">"))
        .unwrap_or_default();
    let nav = [
        ("/environments", "Environments"),
        ("/experiments", "Runs"),
        ("/models", "Models"),
        ("/services", "Services"),
        ("/diff", "Diff"),
    ]
    .iter()
    .map(|(path, text)| link(&format!("{base}{path}"), text))
    .collect::<Vec<_>>()
    .join(" ");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{title} · Strata</title>\
         <link rel=\"stylesheet\" href=\"{style}\"><link rel=\"icon\" href=\"{icon}\" type=\"image/svg+xml\">\
         </head><body><header><a class=\"brand\" href=\"{home}\">Strata</a> <nav>{nav}</nav></header>\
         <main><h1>{title}</h1>{body}</main></body></html>\n",
        title = esc(title),
        style = esc(&format!("{base}/static/style.css")),
        icon = esc(&format!("{base}/static/icon.svg")),
        home = esc(&format!("{base}/")),
    )
}

/// Milliseconds as a short duration: `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`.
pub(crate) fn duration(millis: i64) -> String {
    if millis < 1000 {
        return format!("{} ms", millis.max(0));
    }
    let seconds = millis / 1000;
    if seconds < 60 {
        // One decimal place, from whole milliseconds.
        return format!("{}.{} s", seconds, (millis % 1000) / 100);
    }
    if seconds < 3600 {
        return format!("{} min {} s", seconds / 60, seconds % 60);
    }
    format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60)
}

/// A number for a table cell: integers as they are, others to 4 significant digits.
pub(crate) fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let magnitude = value.abs().log10().floor();
    if !(-4.0..6.0).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let decimals = usize::try_from((3.0 - magnitude).max(0.0) as i64).unwrap_or(0);
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }

    #[test]
    fn escaping_covers_markup_and_attribute_quotes() {
        assert_eq!(
            esc(r#"<script>alert(1)</script> & "x" 'y'"#),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;"
        );
        assert_eq!(esc("naïve – 模型"), "naïve – 模型");
    }

    #[test]
    fn links_encode_the_query_and_escape_the_attribute() {
        let target = href("/w", "/environment", &[("name", "a&b c"), ("version", "1")]);
        assert_eq!(target, "/w/environment?name=a%26b+c&version=1");
        assert_eq!(
            link(&target, "<x>"),
            "<a href=\"/w/environment?name=a%26b+c&amp;version=1\">&lt;x&gt;</a>"
        );
    }

    #[test]
    fn paging_parses_and_windows() {
        assert_eq!(Paging::parse(None, 50).page, 1);
        assert_eq!(Paging::parse(Some("0"), 50).page, 1);
        assert_eq!(Paging::parse(Some("-3"), 50).page, 1);
        assert_eq!(Paging::parse(Some("x"), 50).page, 1);
        assert_eq!(Paging::parse(Some("99999999999"), 50).page, MAX_PAGE);
        let paging = Paging::parse(Some("3"), 50);
        assert_eq!(paging.offset(), 100);
        let query = paging.query(Some("abc"));
        assert_eq!((query.offset, query.limit), (100, 50));
    }

    #[test]
    fn pager_links_keep_parameters_and_stop_at_the_ends() {
        let first = Paging::parse(None, 10).nav("", "/models", &[("q", "a b")], true);
        assert!(!first.contains("previous"));
        assert!(first.contains("href=\"/models?q=a+b&amp;page=2\""));
        let last = Paging::parse(Some("2"), 10).nav("", "/models", &[("page", "2")], false);
        assert!(last.contains("href=\"/models?page=1\""));
        assert!(!last.contains("next"));
    }

    #[test]
    fn durations_and_numbers_read_well() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(245_000), "4 min 5 s");
        assert_eq!(duration(7_380_000), "2 h 3 min");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.934_56), "0.9346");
        assert_eq!(number(123.456), "123.5");
        assert_eq!(number(1.5e-7), "1.500e-7");
    }
}
