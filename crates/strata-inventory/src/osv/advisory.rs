//! What an advisory says about a PyPI package, and whether a version is affected: ranges of
//! events evaluated in PEP 440 order, and listed versions compared in their normal form.

use std::str::FromStr as _;

use pep508_rs::pep440_rs::Version;

use crate::audit::Severity;

/// One event of an `ECOSYSTEM` range; `Introduced(None)` is `introduced: "0"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Event {
    Introduced(Option<Version>),
    Fixed(Version),
    LastAffected(Version),
}

impl Event {
    pub(super) fn version(&self) -> Option<&Version> {
        match self {
            Self::Introduced(version) => version.as_ref(),
            Self::Fixed(version) | Self::LastAffected(version) => Some(version),
        }
    }
}

/// What one record says about one PyPI package.
#[derive(Debug, Clone)]
pub(super) struct Affected {
    pub(super) package: String,
    /// `ECOSYSTEM` ranges, events sorted by version (PEP 440 order).
    pub(super) ranges: Vec<Vec<Event>>,
    /// The `versions` list by [`lookup_key`] (entries that are not PEP 440 as written).
    /// Keyed once, when the record is read: the parsed copy keeps the keys, so audits never
    /// parse the list.
    pub(super) versions: Listed,
}

/// Lookup keys, sorted and joined by newlines in one string: records list up to hundreds of
/// versions each (139,000 in the PyPA database), and one allocation per list instead of one
/// per version is most of what reading the parsed copy saves.
#[derive(Debug, Clone, Default)]
pub(super) struct Listed {
    pub(super) joined: String,
    /// Where each key starts in `joined`.
    pub(super) starts: Vec<usize>,
}

impl Listed {
    pub(super) fn new(mut keys: Vec<String>) -> Self {
        // A key with a newline would read back as two; no locked version has one.
        keys.retain(|key| !key.is_empty() && !key.contains('\n'));
        keys.sort_unstable();
        keys.dedup();
        Self::from_joined(keys.join("\n"))
    }

    /// `joined` as [`Listed::joined`] wrote it (sorted).
    pub(super) fn from_joined(joined: String) -> Self {
        let mut starts = Vec::new();
        if !joined.is_empty() {
            starts.push(0);
            starts.extend(joined.match_indices('\n').map(|(at, _)| at + 1));
        }
        Self { joined, starts }
    }

    pub(super) fn joined(&self) -> &str {
        &self.joined
    }

    pub(super) fn key(&self, index: usize) -> &str {
        let end = self
            .starts
            .get(index + 1)
            .map_or(self.joined.len(), |next| next - 1);
        &self.joined[self.starts[index]..end]
    }

    pub(super) fn contains(&self, key: &str) -> bool {
        let (mut low, mut high) = (0, self.starts.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.key(middle).cmp(key) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

impl Affected {
    /// `key` is `version`'s [`lookup_key`], `raw` the version as locked.
    pub(super) fn contains(&self, version: &Version, raw: &str, key: &str) -> bool {
        self.ranges.iter().any(|events| in_range(events, version))
            || self.versions.contains(key)
            || self.versions.contains(raw)
    }
}

/// The form listed versions are compared in: PEP 440's normal form without the release's
/// trailing zeros, since `2`, `2.0` and `2.0.0` are one version (`1.0.0rc1` for
/// `1.0.0-rc1`, `1.5.post0` for `1.5-0`).
pub(crate) fn lookup_key(version: &Version) -> String {
    let release = version.release();
    let kept = release
        .iter()
        .rposition(|part| *part != 0)
        .map_or(1, |last| last + 1);
    if kept >= release.len() {
        return version.to_string();
    }
    version
        .clone()
        .with_release(release[..kept].iter().copied())
        .to_string()
}

/// A listed version's [`lookup_key`], or the entry as written when it is not PEP 440.
pub(super) fn listed_key(text: String) -> String {
    Version::from_str(&text).map_or(text, |version| lookup_key(&version))
}

/// Whether `version` is affected by one range: the last event at or below it decides
/// (`introduced` opens, `fixed` closes at its version, `last_affected` closes after it).
pub(super) fn in_range(events: &[Event], version: &Version) -> bool {
    let mut affected = false;
    for event in events {
        match event {
            Event::Introduced(None) => affected = true,
            Event::Introduced(Some(introduced)) => {
                if version >= introduced {
                    affected = true;
                }
            }
            Event::Fixed(fixed) => {
                if version >= fixed {
                    affected = false;
                }
            }
            Event::LastAffected(last) => {
                if version > last {
                    affected = false;
                }
            }
        }
    }
    affected
}

/// One advisory, as much of it as an audit shows.
#[derive(Debug, Clone)]
pub struct Advisory {
    pub id: String,
    /// Other ids of the same vulnerability (CVE, GHSA, ...).
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    /// From the record's CVSS v3 vector (the base score), else `database_specific.severity`.
    pub severity: Option<Severity>,
    /// The CVSS v3 base score, when the record has a vector.
    pub score: Option<f64>,
    pub(super) affected: Vec<Affected>,
}

impl Advisory {
    /// Whether this advisory affects `package` (normalised) at `version`.
    pub fn affects(&self, package: &str, version: &Version, raw: &str) -> bool {
        self.affects_keyed(package, version, raw, &lookup_key(version))
    }

    /// [`Advisory::affects`] with `version`'s [`lookup_key`] already made, for callers
    /// checking one version against many advisories.
    pub(crate) fn affects_keyed(
        &self,
        package: &str,
        version: &Version,
        raw: &str,
        key: &str,
    ) -> bool {
        self.affected
            .iter()
            .any(|affected| affected.package == package && affected.contains(version, raw, key))
    }

    /// The versions its ranges for `package` name as fixed, ascending.
    pub fn fixed_versions(&self, package: &str) -> Vec<Version> {
        let mut fixed: Vec<Version> = self
            .affected
            .iter()
            .filter(|affected| affected.package == package)
            .flat_map(|affected| affected.ranges.iter().flatten())
            .filter_map(|event| match event {
                Event::Fixed(version) => Some(version.clone()),
                _ => None,
            })
            .collect();
        fixed.sort();
        fixed.dedup();
        fixed
    }
}
