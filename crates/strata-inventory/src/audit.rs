//! `strata env audit`: the pinned PyPI packages of a lock against OSV advisories, with PEP 440
//! version rules. Packages no advisory source covers (conda packages, an interpreter from the
//! machine, versions that are not PEP 440) are reported as unchecked, never as clean.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use pep508_rs::pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};
use serde::{Deserialize, Serialize};
use strata_spec::{Environment, Lock, PythonSource, normalize_name};

use crate::osv::AdvisoryDatabase;
use crate::query::Ecosystem;

/// Severity levels (CVSS v3 qualitative ratings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The CVSS v3 rating of a base score (0.0 is "none", kept as low here: a record that
    /// exists is at least worth a look).
    pub fn from_score(score: f64) -> Self {
        if score >= 9.0 {
            Self::Critical
        } else if score >= 7.0 {
            Self::High
        } else if score >= 4.0 {
            Self::Medium
        } else {
            Self::Low
        }
    }

    /// `database_specific.severity` labels (GitHub's `MODERATE` is medium).
    pub fn from_label(label: &str) -> Option<Self> {
        match label.to_ascii_lowercase().as_str() {
            "low" => Some(Self::Low),
            "medium" | "moderate" => Some(Self::Medium),
            "high" => Some(Self::High),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_label(text)
            .ok_or_else(|| format!("`{text}` is not a severity; use low, medium, high or critical"))
    }
}

/// One advisory that affects a locked package.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvisoryFinding {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    /// `None` when the record carries no severity.
    pub severity: Option<Severity>,
    pub score: Option<f64>,
    /// Versions the record names as fixed, ascending.
    pub fixed: Vec<String>,
}

/// A locked package with at least one advisory.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageAudit {
    pub name: String,
    pub version: String,
    pub advisories: Vec<AdvisoryFinding>,
    /// The definition's own requirement for the package, when it names it.
    pub requirement: Option<String>,
    /// The first version above the locked one that no advisory affects and that the
    /// requirement allows.
    pub suggested: Option<String>,
    /// The first version no advisory affects, when the requirement excludes it (the
    /// definition has to change to get it).
    pub fixed_outside_requirement: Option<String>,
}

/// A package the audit could not check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UncheckedPackage {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    pub reason: String,
}

/// The audit of one lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// `NAME:VERSION`.
    pub environment: String,
    pub lock_hash: String,
    /// How many packages were checked against advisories.
    pub checked: usize,
    pub vulnerable: Vec<PackageAudit>,
    pub unchecked: Vec<UncheckedPackage>,
}

impl AuditReport {
    /// Whether an advisory at or above `level` was found; an advisory without a severity
    /// counts (nothing shows it is below the level).
    pub fn reaches(&self, level: Severity) -> bool {
        self.vulnerable
            .iter()
            .flat_map(|package| &package.advisories)
            .any(|finding| finding.severity.is_none_or(|severity| severity >= level))
    }
}

/// The definition's PyPI requirements by normalised name: `(text, specifiers)`.
fn requirements(definition: Option<&Environment>) -> BTreeMap<String, (String, VersionSpecifiers)> {
    let mut map = BTreeMap::new();
    let Some(conda) = definition.and_then(Environment::conda) else {
        return map;
    };
    for entry in conda.pip_entries() {
        let text = entry.split('#').next().unwrap_or_default().trim();
        let Ok(requirement) = Requirement::<VerbatimUrl>::from_str(text) else {
            continue;
        };
        let specifiers = match requirement.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers,
            Some(VersionOrUrl::Url(_)) => continue,
            None => VersionSpecifiers::empty(),
        };
        map.insert(
            normalize_name(requirement.name.as_ref()),
            (text.to_string(), specifiers),
        );
    }
    map
}

/// Audits the PyPI packages of `lock` (and of a user-managed lock's `pip freeze`).
/// `definition` gives the environment's definition, whose requirements bound the suggested
/// versions; it is called only when something is found.
pub fn audit_lock(
    environment: &str,
    lock_hash: &str,
    lock: &Lock,
    definition: impl FnOnce() -> Option<Environment>,
    database: &AdvisoryDatabase,
) -> AuditReport {
    let mut definition = Some(definition);
    let mut requirements_memo: Option<BTreeMap<String, (String, VersionSpecifiers)>> = None;
    let mut report = AuditReport {
        environment: environment.to_string(),
        lock_hash: lock_hash.to_string(),
        checked: 0,
        vulnerable: Vec::new(),
        unchecked: Vec::new(),
    };
    for package in &lock.conda {
        report.unchecked.push(UncheckedPackage {
            ecosystem: Ecosystem::Conda.to_string(),
            name: package.name.to_ascii_lowercase(),
            version: package.version.clone(),
            reason: "no advisory source for conda packages".to_string(),
        });
    }
    if let Some(python) = &lock.python
        && python.source == PythonSource::System
    {
        report.unchecked.push(UncheckedPackage {
            ecosystem: "system".to_string(),
            name: "python".to_string(),
            version: python.version.clone(),
            reason: "the interpreter comes from the machine".to_string(),
        });
    }
    for (ecosystem, name, version, _) in strata_store::locked_packages(lock) {
        if ecosystem != strata_store::PYPI {
            continue;
        }
        let Ok(parsed) = Version::from_str(&version) else {
            report.unchecked.push(UncheckedPackage {
                ecosystem: Ecosystem::Pypi.to_string(),
                name,
                version,
                reason: "the version is not a PEP 440 version".to_string(),
            });
            continue;
        };
        report.checked += 1;
        let normalized = parsed.to_string();
        let findings: Vec<AdvisoryFinding> = database
            .for_package(&name)
            .filter(|advisory| advisory.affects_normalized(&name, &parsed, &version, &normalized))
            .map(|advisory| AdvisoryFinding {
                id: advisory.id.clone(),
                aliases: advisory.aliases.clone(),
                summary: advisory.summary.clone(),
                severity: advisory.severity,
                score: advisory.score,
                fixed: advisory
                    .fixed_versions(&name)
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            })
            .collect();
        if findings.is_empty() {
            continue;
        }
        let requirements = requirements_memo.get_or_insert_with(|| {
            requirements(definition.take().and_then(|read| read()).as_ref())
        });
        let requirement = requirements.get(&name);
        // Candidates: every fixed version above the locked one, lowest first.
        let mut candidates: Vec<Version> = database
            .for_package(&name)
            .flat_map(|advisory| advisory.fixed_versions(&name))
            .filter(|candidate| *candidate > parsed)
            .collect();
        candidates.sort();
        candidates.dedup();
        let clean: Vec<&Version> = candidates
            .iter()
            .filter(|candidate| !database.any_affects(&name, candidate))
            .collect();
        let suggested = clean
            .iter()
            .find(|candidate| {
                requirement.is_none_or(|(_, specifiers)| specifiers.contains(candidate))
            })
            .map(ToString::to_string);
        let fixed_outside_requirement = if suggested.is_none() {
            clean.first().map(ToString::to_string)
        } else {
            None
        };
        report.vulnerable.push(PackageAudit {
            name,
            version,
            advisories: findings,
            requirement: requirement.map(|(text, _)| text.clone()),
            suggested,
            fixed_outside_requirement,
        });
    }
    report.vulnerable.sort_by(|a, b| a.name.cmp(&b.name));
    report
        .unchecked
        .sort_by(|a, b| (&a.ecosystem, &a.name).cmp(&(&b.ecosystem, &b.name)));
    report
}
