//! OSV records as their JSON and YAML files write them, converted into [`Advisory`]s (PyPI
//! entries only; a range that is not PEP 440 throughout is dropped, never guessed).

use std::collections::HashMap;
use std::str::FromStr as _;

use pep508_rs::pep440_rs::Version;
use serde::Deserialize;
use serde::de::IgnoredAny;
use strata_spec::normalize_name;

use super::advisory::{Advisory, Affected, Event, Listed, listed_key};
use crate::audit::Severity;
use crate::cvss;

#[derive(Deserialize)]
pub(super) struct RawRecord {
    pub(super) id: String,
    #[serde(default)]
    pub(super) summary: Option<String>,
    #[serde(default)]
    pub(super) aliases: Vec<String>,
    #[serde(default)]
    pub(super) withdrawn: Option<IgnoredAny>,
    #[serde(default)]
    pub(super) severity: Vec<RawSeverity>,
    #[serde(default)]
    pub(super) affected: Vec<RawAffected>,
    #[serde(default)]
    pub(super) database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(super) struct RawSeverity {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) score: String,
}

#[derive(Deserialize)]
pub(super) struct RawAffected {
    #[serde(default)]
    pub(super) package: Option<RawPackage>,
    #[serde(default)]
    pub(super) ranges: Vec<RawRange>,
    #[serde(default)]
    pub(super) versions: Vec<String>,
    #[serde(default)]
    pub(super) database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(super) struct RawPackage {
    pub(super) name: String,
    pub(super) ecosystem: String,
}

#[derive(Deserialize)]
pub(super) struct RawRange {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) events: Vec<HashMap<String, String>>,
}

/// One file, read and converted.
pub(super) enum Parsed {
    /// JSON or YAML without an `id`.
    Skipped,
    Withdrawn,
    /// `None` when no entry is about a PyPI package.
    Advisory(Option<Advisory>),
}

impl From<Option<RawRecord>> for Parsed {
    fn from(raw: Option<RawRecord>) -> Self {
        match raw {
            None => Self::Skipped,
            Some(raw) if raw.withdrawn.is_some() => Self::Withdrawn,
            Some(raw) => Self::Advisory(convert(raw)),
        }
    }
}

pub(super) fn label_severity(value: Option<&serde_json::Value>) -> Option<Severity> {
    value?
        .get("severity")?
        .as_str()
        .and_then(Severity::from_label)
}

pub(super) fn convert(raw: RawRecord) -> Option<Advisory> {
    let mut score = None;
    for severity in &raw.severity {
        if severity.kind.starts_with("CVSS_V3") {
            score = cvss::base_score_v3(&severity.score);
            if score.is_some() {
                break;
            }
        }
    }
    let mut severity = score.map(Severity::from_score);
    if severity.is_none() {
        severity = label_severity(raw.database_specific.as_ref()).or_else(|| {
            raw.affected
                .iter()
                .find_map(|affected| label_severity(affected.database_specific.as_ref()))
        });
    }
    let affected: Vec<Affected> = raw
        .affected
        .into_iter()
        .filter_map(|affected| {
            let package = affected.package?;
            if !package.ecosystem.eq_ignore_ascii_case("pypi") {
                return None;
            }
            let ranges = affected
                .ranges
                .into_iter()
                .filter(|range| range.kind == "ECOSYSTEM")
                .filter_map(|range| parse_events(&range.events))
                .collect();
            Some(Affected {
                package: normalize_name(&package.name),
                ranges,
                versions: Listed::new(affected.versions.into_iter().map(listed_key).collect()),
            })
        })
        .collect();
    if affected.is_empty() {
        return None;
    }
    Some(Advisory {
        id: raw.id,
        aliases: raw.aliases,
        summary: raw.summary,
        severity,
        score,
        affected,
    })
}

/// The events of one range, sorted; `None` when one of its versions is not PEP 440 (the
/// range cannot be evaluated, and a guess could call an affected version clean).
pub(super) fn parse_events(events: &[HashMap<String, String>]) -> Option<Vec<Event>> {
    let mut parsed = Vec::new();
    for event in events {
        for (kind, value) in event {
            let version = || Version::from_str(value).ok();
            parsed.push(match kind.as_str() {
                "introduced" if value == "0" => Event::Introduced(None),
                "introduced" => Event::Introduced(Some(version()?)),
                "fixed" => Event::Fixed(version()?),
                "last_affected" => Event::LastAffected(version()?),
                // `limit` bounds git ranges; it does not apply to ECOSYSTEM ones.
                _ => continue,
            });
        }
    }
    parsed.sort_by(|a, b| a.version().cmp(&b.version()));
    Some(parsed)
}
