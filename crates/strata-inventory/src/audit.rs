//! `strata env audit`: the pinned PyPI packages of a lock against OSV advisories, with PEP 440
//! version rules. Packages no advisory source covers (conda packages, an interpreter from the
//! machine, versions that are not PEP 440) are reported as unchecked, never as clean.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use pep508_rs::pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};
use serde::{Deserialize, Serialize};
use strata_spec::{Environment, Lock, PythonSource, normalize_name};

use crate::osv::{AdvisoryDatabase, lookup_key};
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
    /// Shared with every other lock whose packages these advisories affect: an audit of
    /// many locks finds the same advisories again and again.
    #[serde(serialize_with = "serialize_shared")]
    pub advisories: Vec<Arc<AdvisoryFinding>>,
    /// The definition's own requirement for the package, when it names it.
    pub requirement: Option<String>,
    /// The first version above the locked one that no advisory affects and that the
    /// requirement allows.
    pub suggested: Option<String>,
    /// The first version no advisory affects, when the requirement excludes it (the
    /// definition has to change to get it).
    pub fixed_outside_requirement: Option<String>,
}

fn serialize_shared<S: serde::Serializer>(
    advisories: &[Arc<AdvisoryFinding>],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(advisories.iter().map(AsRef::as_ref))
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
            .flat_map(|package| package.advisories.iter())
            .any(|finding| finding.severity.is_none_or(|severity| severity >= level))
    }
}

/// A definition's PyPI requirements by normalised name: `(text, specifiers)`.
type Requirements = BTreeMap<String, (String, VersionSpecifiers)>;

fn requirements(definition: Option<&Environment>) -> Requirements {
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

/// What the advisories say about one pinned `(package, version)`.
#[derive(Debug)]
enum Verdict {
    /// Not a PEP 440 version: no range can be evaluated.
    NotPep440,
    Clean,
    Vulnerable {
        advisories: Vec<Arc<AdvisoryFinding>>,
        /// The fixed versions above the pinned one that no advisory affects, lowest first,
        /// with their text (written into every report that pins this version).
        clean_fixes: Vec<(Version, String)>,
    },
}

/// The advisories of one package, prepared once per audit.
#[derive(Debug)]
struct PackageAdvisories {
    /// By index in the database.
    advisories: Vec<(usize, Arc<AdvisoryFinding>)>,
    /// Every version the advisories name as fixed, ascending, with whether any advisory
    /// affects it (a fix of one advisory can be affected by another).
    fixes: Vec<(Version, bool)>,
}

impl PackageAdvisories {
    fn new(database: &AdvisoryDatabase, package: &str) -> Self {
        let advisories: Vec<(usize, Arc<AdvisoryFinding>)> = database
            .indexed_for_package(package)
            .map(|(index, advisory)| {
                let fixed = advisory.fixed_versions(package);
                let finding = AdvisoryFinding {
                    id: advisory.id.clone(),
                    aliases: advisory.aliases.clone(),
                    summary: advisory.summary.clone(),
                    severity: advisory.severity,
                    score: advisory.score,
                    fixed: fixed.iter().map(ToString::to_string).collect(),
                };
                (index, Arc::new(finding))
            })
            .collect();
        let mut fixed: Vec<Version> = advisories
            .iter()
            .flat_map(|(index, _)| database.advisory(*index).fixed_versions(package))
            .collect();
        fixed.sort();
        fixed.dedup();
        let fixes = fixed
            .into_iter()
            .map(|version| {
                let key = lookup_key(&version);
                let affected = advisories.iter().any(|(index, _)| {
                    database
                        .advisory(*index)
                        .affects_keyed(package, &version, &key, &key)
                });
                (version, affected)
            })
            .collect();
        Self { advisories, fixes }
    }

    fn decide(&self, database: &AdvisoryDatabase, package: &str, raw: &str) -> Verdict {
        let Ok(version) = Version::from_str(raw) else {
            return Verdict::NotPep440;
        };
        let key = lookup_key(&version);
        let advisories: Vec<Arc<AdvisoryFinding>> = self
            .advisories
            .iter()
            .filter(|(index, _)| {
                database
                    .advisory(*index)
                    .affects_keyed(package, &version, raw, &key)
            })
            .map(|(_, finding)| Arc::clone(finding))
            .collect();
        if advisories.is_empty() {
            return Verdict::Clean;
        }
        let clean_fixes = self
            .fixes
            .iter()
            .filter(|(fixed, affected)| !affected && *fixed > version)
            .map(|(fixed, _)| (fixed.clone(), fixed.to_string()))
            .collect();
        Verdict::Vulnerable {
            advisories,
            clean_fixes,
        }
    }
}

/// A package and the versions of it that locks pin.
type Pins = (String, Vec<String>);

/// A package decided by one thread of [`Auditor::decide_all`]: its advisories when they were
/// prepared there, and verdicts by version.
type Decided = (
    String,
    Option<PackageAdvisories>,
    HashMap<String, Arc<Verdict>>,
);

/// Audits locks against one advisory database. Each package's advisories are prepared once,
/// and each distinct pinned `(package, version)` decided once, however many locks pin it. It
/// owns what it holds, so it can be freed on another thread.
#[derive(Debug)]
pub struct Auditor {
    database: Arc<AdvisoryDatabase>,
    /// Package (normalised) -> its advisories, and verdicts by version as locked.
    packages: HashMap<String, (PackageAdvisories, HashMap<String, Arc<Verdict>>)>,
    /// Definition's spec hash -> its requirements (many environments share a definition).
    requirements: HashMap<String, Arc<Requirements>>,
}

impl Auditor {
    pub fn new(database: Arc<AdvisoryDatabase>) -> Self {
        Self {
            database,
            packages: HashMap::new(),
            requirements: HashMap::new(),
        }
    }

    /// Audits the PyPI packages of `lock` (and of a user-managed lock's `pip freeze`).
    /// `definition` gives the environment's definition, whose requirements bound the
    /// suggested versions; it is called only when something is found, and only once per
    /// `spec_hash` (the hash of the definition) when one is given.
    pub fn audit<E>(
        &mut self,
        environment: &str,
        lock_hash: &str,
        lock: &Lock,
        spec_hash: Option<&str>,
        definition: impl FnOnce() -> Result<Option<Environment>, E>,
    ) -> Result<AuditReport, E> {
        let mut definition = Some(definition);
        let mut requirements_memo: Option<Arc<Requirements>> = None;
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
            let verdict = self.verdict(&name, &version);
            let (advisories, clean_fixes) = match verdict.as_ref() {
                Verdict::NotPep440 => {
                    report.unchecked.push(UncheckedPackage {
                        ecosystem: Ecosystem::Pypi.to_string(),
                        name,
                        version,
                        reason: "the version is not a PEP 440 version".to_string(),
                    });
                    continue;
                }
                Verdict::Clean => {
                    report.checked += 1;
                    continue;
                }
                Verdict::Vulnerable {
                    advisories,
                    clean_fixes,
                } => (advisories, clean_fixes),
            };
            report.checked += 1;
            if requirements_memo.is_none() {
                requirements_memo = Some(match spec_hash {
                    Some(key) if let Some(known) = self.requirements.get(key) => Arc::clone(known),
                    _ => {
                        let read = definition.take().map_or(Ok(None), |read| read())?;
                        let parsed = Arc::new(requirements(read.as_ref()));
                        if let Some(key) = spec_hash {
                            self.requirements
                                .insert(key.to_string(), Arc::clone(&parsed));
                        }
                        parsed
                    }
                });
            }
            let requirement = requirements_memo
                .as_ref()
                .and_then(|requirements| requirements.get(&name));
            let suggested = clean_fixes
                .iter()
                .find(|(candidate, _)| {
                    requirement.is_none_or(|(_, specifiers)| specifiers.contains(candidate))
                })
                .map(|(_, text)| text.clone());
            let fixed_outside_requirement = if suggested.is_none() {
                clean_fixes.first().map(|(_, text)| text.clone())
            } else {
                None
            };
            report.vulnerable.push(PackageAudit {
                name,
                version,
                advisories: advisories.clone(),
                requirement: requirement.map(|(text, _)| text.clone()),
                suggested,
                fixed_outside_requirement,
            });
        }
        report.vulnerable.sort_by(|a, b| a.name.cmp(&b.name));
        report
            .unchecked
            .sort_by(|a, b| (&a.ecosystem, &a.name).cmp(&(&b.ecosystem, &b.name)));
        Ok(report)
    }

    /// Whether [`Auditor::audit`] of `lock` finds an advisory (and so asks for the
    /// definition): callers that read definitions asynchronously fetch it first.
    pub fn finds_anything(&mut self, lock: &Lock) -> bool {
        strata_store::locked_packages(lock)
            .into_iter()
            .filter(|(ecosystem, ..)| *ecosystem == strata_store::PYPI)
            .any(|(_, name, version, _)| {
                matches!(
                    self.verdict(&name, &version).as_ref(),
                    Verdict::Vulnerable { .. }
                )
            })
    }

    /// Whether the requirements of the definition `spec_hash` are already known.
    pub fn knows_definition(&self, spec_hash: &str) -> bool {
        self.requirements.contains_key(spec_hash)
    }

    /// Decides every pinned PyPI `(package, version)` of `locks` that is not decided yet, on
    /// every core: the packages are shared out between threads, each preparing its packages'
    /// advisories and deciding their versions. [`Auditor::audit`] of these locks then only
    /// looks verdicts up.
    pub fn decide_all<'a>(&mut self, locks: impl IntoIterator<Item = &'a Lock>) {
        let mut pending: HashMap<String, Vec<String>> = HashMap::new();
        let mut seen: std::collections::HashSet<(String, String)> = Default::default();
        for lock in locks {
            for (ecosystem, name, version, _) in strata_store::locked_packages(lock) {
                let known = self
                    .packages
                    .get(&name)
                    .is_some_and(|(_, verdicts)| verdicts.contains_key(&version));
                if ecosystem != strata_store::PYPI || known {
                    continue;
                }
                if seen.insert((name.clone(), version.clone())) {
                    pending.entry(name).or_default().push(version);
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(pending.len());
        // Largest packages first, each to the thread with the least work so far.
        let mut packages: Vec<Pins> = pending.into_iter().collect();
        packages.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        let mut shares: Vec<(usize, Vec<Pins>)> = (0..threads).map(|_| (0, Vec::new())).collect();
        for package in packages {
            let share = shares
                .iter_mut()
                .min_by_key(|(work, _)| *work)
                .expect("at least one thread");
            share.0 += package.1.len();
            share.1.push(package);
        }
        let database = self.database.as_ref();
        let existing = &self.packages;
        let decided: Vec<Vec<Decided>> = std::thread::scope(|scope| {
            let handles: Vec<_> = shares
                .into_iter()
                .map(|(_, share)| {
                    scope.spawn(move || {
                        share
                            .into_iter()
                            .map(|(package, versions)| {
                                let fresh = (!existing.contains_key(&package))
                                    .then(|| PackageAdvisories::new(database, &package));
                                let advisories = match &fresh {
                                    Some(advisories) => advisories,
                                    None => &existing[&package].0,
                                };
                                let verdicts = versions
                                    .into_iter()
                                    .map(|version| {
                                        let verdict =
                                            advisories.decide(database, &package, &version);
                                        (version, Arc::new(verdict))
                                    })
                                    .collect();
                                (package, fresh, verdicts)
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        for (package, fresh, verdicts) in decided.into_iter().flatten() {
            match fresh {
                Some(advisories) => {
                    self.packages.insert(package, (advisories, verdicts));
                }
                None => {
                    if let Some((_, known)) = self.packages.get_mut(&package) {
                        known.extend(verdicts);
                    }
                }
            }
        }
    }

    fn verdict(&mut self, package: &str, version: &str) -> Arc<Verdict> {
        let database = self.database.as_ref();
        let (advisories, verdicts) = match self.packages.get_mut(package) {
            Some(entry) => entry,
            None => self
                .packages
                .entry(package.to_string())
                .or_insert_with(|| (PackageAdvisories::new(database, package), HashMap::new())),
        };
        if let Some(known) = verdicts.get(version) {
            return Arc::clone(known);
        }
        let verdict = Arc::new(advisories.decide(database, package, version));
        verdicts.insert(version.to_string(), Arc::clone(&verdict));
        verdict
    }
}

/// Audits one lock; see [`Auditor::audit`] (an [`Auditor`] shares its work between locks).
pub fn audit_lock(
    environment: &str,
    lock_hash: &str,
    lock: &Lock,
    definition: impl FnOnce() -> Option<Environment>,
    database: &Arc<AdvisoryDatabase>,
) -> AuditReport {
    let read = || Ok::<_, std::convert::Infallible>(definition());
    match Auditor::new(Arc::clone(database)).audit(environment, lock_hash, lock, None, read) {
        Ok(report) => report,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::convert::Infallible;

    use strata_spec::{LOCK_FORMAT_VERSION, PypiLockedPackage, PypiSource};

    use super::*;

    /// `demo` < 1.10 is affected by DEMO-1; 1.10 and 1.11 by DEMO-2 (fixed in 1.12), so 1.10
    /// fixes one advisory and not the other. `other` is affected at the listed 2.0 only.
    fn database() -> Arc<AdvisoryDatabase> {
        let record = |id: &str, package: &str, body: &str| {
            (
                format!("{id}.yaml"),
                format!("id: {id}\naliases: [CVE-{id}]\naffected:\n- package: {{name: {package}, ecosystem: PyPI}}\n{body}").into_bytes(),
            )
        };
        AdvisoryDatabase::from_files(vec![
            record(
                "DEMO-1",
                "Demo",
                "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - fixed: \"1.10\"\n",
            ),
            record(
                "DEMO-2",
                "demo",
                "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.10\"\n    - fixed: \"1.12\"\n",
            ),
            record("OTHER-1", "other", "  versions: ['2.0']\n"),
        ])
        .map(Arc::new)
        .unwrap()
    }

    fn lock(pins: &[(&str, &str)]) -> Lock {
        Lock {
            version: LOCK_FORMAT_VERSION,
            platform: "linux-64".to_string(),
            python: None,
            conda: Vec::new(),
            pypi: pins
                .iter()
                .map(|(name, version)| PypiLockedPackage {
                    name: (*name).to_string(),
                    version: (*version).to_string(),
                    source: PypiSource::Index {
                        url: "https://pypi.org/simple".to_string(),
                    },
                    hashes: Vec::new(),
                })
                .collect(),
            pip_options: Vec::new(),
            user_managed: None,
            base_image: None,
        }
    }

    fn definition(requirements: &[&str]) -> Environment {
        Environment::from_pip_requirements(
            "demo",
            requirements.iter().map(ToString::to_string).collect(),
            None,
        )
    }

    fn ids(package: &PackageAudit) -> Vec<&str> {
        package
            .advisories
            .iter()
            .map(|finding| finding.id.as_str())
            .collect()
    }

    #[test]
    fn shared_verdicts_match_audits_of_single_locks() {
        let database = database();
        let locks = [
            lock(&[("demo", "1.9"), ("other", "2.0")]),
            lock(&[("demo", "1.10.0"), ("other", "2")]),
            lock(&[("demo", "1.9"), ("other", "2.0.1")]),
            lock(&[("demo", "1.12"), ("other", "not-a-version")]),
        ];
        let mut auditor = Auditor::new(Arc::clone(&database));
        for (index, lock) in locks.iter().enumerate() {
            let label = format!("env{index}:1");
            let shared = auditor
                .audit(&label, "hash", lock, Some("spec"), || {
                    Ok::<_, Infallible>(None)
                })
                .unwrap();
            let alone = audit_lock(&label, "hash", lock, || None, &database);
            assert_eq!(shared, alone, "{label}");
        }
        let first = audit_lock("a:1", "hash", &locks[0], || None, &database);
        assert_eq!(
            first.vulnerable.iter().map(ids).collect::<Vec<_>>(),
            [vec!["DEMO-1"], vec!["OTHER-1"]]
        );
        // 1.10 is fixed for DEMO-1 but affected by DEMO-2: the suggestion skips it.
        assert_eq!(first.vulnerable[0].suggested.as_deref(), Some("1.12"));
        assert_eq!(first.vulnerable[0].advisories[0].fixed, ["1.10"]);
        let second = audit_lock("b:1", "hash", &locks[1], || None, &database);
        assert_eq!(
            second.vulnerable.iter().map(ids).collect::<Vec<_>>(),
            [vec!["DEMO-2"], vec!["OTHER-1"]],
            "`2` is the listed `2.0`"
        );
        let last = audit_lock("d:1", "hash", &locks[3], || None, &database);
        assert!(last.vulnerable.is_empty());
        assert_eq!((last.checked, last.unchecked.len()), (1, 1));
    }

    #[test]
    fn verdicts_decided_on_every_core_are_the_ones_decided_one_by_one() {
        let database = database();
        let locks = [
            lock(&[("demo", "1.9"), ("other", "2.0")]),
            lock(&[("Demo", "1.10.0"), ("other", "2"), ("unlisted", "1.0")]),
            lock(&[("demo", "1.12"), ("other", "not-a-version")]),
        ];
        let mut ahead = Auditor::new(Arc::clone(&database));
        ahead.decide_all(&locks[..2]);
        // Locks with pins decided already, and some not: only the new ones are decided.
        ahead.decide_all(&locks);
        for (index, lock) in locks.iter().enumerate() {
            let label = format!("env{index}:1");
            let decided = ahead
                .audit(&label, "hash", lock, None, || Ok::<_, Infallible>(None))
                .unwrap();
            assert_eq!(
                decided,
                audit_lock(&label, "hash", lock, || None, &database),
                "{label}"
            );
        }
        let verdicts: usize = ahead.packages.values().map(|(_, known)| known.len()).sum();
        assert_eq!(verdicts, 7, "each distinct pin decided once");
    }

    #[test]
    fn suggestions_stay_within_the_definitions_requirement() {
        let database = database();
        let pinned = lock(&[("demo", "1.9")]);
        let within = audit_lock(
            "a:1",
            "hash",
            &pinned,
            || Some(definition(&["demo>=1.9"])),
            &database,
        );
        let package = &within.vulnerable[0];
        assert_eq!(package.requirement.as_deref(), Some("demo>=1.9"));
        assert_eq!(
            (
                package.suggested.as_deref(),
                package.fixed_outside_requirement.as_deref()
            ),
            (Some("1.12"), None)
        );
        let outside = audit_lock(
            "a:1",
            "hash",
            &pinned,
            || Some(definition(&["demo<1.12"])),
            &database,
        );
        let package = &outside.vulnerable[0];
        assert_eq!(
            (
                package.suggested.as_deref(),
                package.fixed_outside_requirement.as_deref()
            ),
            (None, Some("1.12"))
        );
    }

    #[test]
    fn a_definition_is_read_once_per_spec_hash_and_only_when_needed() {
        let database = database();
        let reads = Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            Ok::<_, Infallible>(Some(definition(&["demo<1.12"])))
        };
        let mut auditor = Auditor::new(Arc::clone(&database));
        let vulnerable = lock(&[("demo", "1.9")]);
        let clean = lock(&[("demo", "1.12")]);
        for spec_hash in ["one", "one", "two"] {
            let report = auditor
                .audit("a:1", "hash", &vulnerable, Some(spec_hash), read)
                .unwrap();
            assert_eq!(
                report.vulnerable[0].requirement.as_deref(),
                Some("demo<1.12")
            );
        }
        auditor
            .audit("b:1", "hash", &clean, Some("three"), read)
            .unwrap();
        assert_eq!(
            reads.get(),
            2,
            "`one` once, `two` once, nothing for a clean lock"
        );
        // An error reading the definition is the audit's error.
        let failed = auditor.audit("c:1", "hash", &vulnerable, Some("four"), || {
            Err::<Option<Environment>, _>("unreadable")
        });
        assert_eq!(failed.unwrap_err(), "unreadable");
    }
}
