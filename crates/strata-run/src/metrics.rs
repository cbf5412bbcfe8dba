//! Reading what the `strata` Python module wrote: one JSON object per line.

use std::path::Path;

use strata_store::Metric;

/// A logged metric or a tag.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Metric(Metric),
    Tag { key: String, value: Option<String> },
}

/// Parses a metrics file; unreadable lines (a script killed mid-write) are skipped.
pub fn read_records(path: &Path) -> Vec<Record> {
    let Ok(text) = fs_err::read_to_string(path) else {
        return Vec::new();
    };
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Record> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let name = value.get("name")?.as_str()?.to_string();
    let logged_at = value
        .get("time")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    match value.get("kind")?.as_str()? {
        kind @ ("scalar" | "list") => Some(Record::Metric(Metric {
            name,
            kind: kind.to_string(),
            value: value
                .get("value")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            logged_at,
        })),
        "tag" => Some(Record::Tag {
            key: name,
            value: value
                .get("value")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metrics_and_tags_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        fs_err::write(
            &path,
            "{\"kind\":\"scalar\",\"name\":\"acc\",\"value\":0.9,\"time\":1}\n{\"kind\":\"tag\",\"name\":\"team\",\"value\":\"ml\",\"time\":2}\n{\"kind\":\"list\",\"name\":\"l\",\"value\":[1,2],\"time\":3}\n{\"kind\":\"scal",
        )
        .unwrap();
        let records = read_records(&path);
        assert_eq!(records.len(), 3);
        assert!(
            matches!(&records[1], Record::Tag { key, value } if key == "team" && value.as_deref() == Some("ml"))
        );
    }
}
