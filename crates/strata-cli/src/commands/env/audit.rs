//! `strata env audit NAME[:VERSION] | --all`: the pinned packages of locks against OSV
//! advisories from a local directory or zip archive.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use strata_inventory::{
    AdvisoryDatabase, AuditReport, Auditor, InventoryError, Severity, fetch_advisories,
    is_online_source,
};
use strata_spec::EnvironmentVersion;
use strata_store::{LockRecord, Workspace};

use crate::commands::{Context, parse_ref};
use crate::errors::{ExitWith, UsageError};
use crate::{printer, table};

#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    /// `NAME` or `NAME:VERSION`.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub(crate) environment: Option<String>,
    /// Audit the latest version of every (named) environment.
    #[arg(long)]
    pub(crate) all: bool,
    /// OSV records: a directory tree of `.json`/`.yaml` files (e.g. a mirror of the PyPA
    /// advisory database), a zip archive of them (osv.dev's `PyPI/all.zip`), or the URL of an
    /// OSV API (`https://api.osv.dev/v1`, or a mirror of it).
    #[arg(long, value_name = "DIR|ZIP|URL", env = "STRATA_ADVISORIES")]
    pub(crate) advisories: Option<String>,
    /// Exit 1 when an advisory at or above this level is found (`low`, `medium`, `high`,
    /// `critical`); advisories without a severity count as reaching every level.
    #[arg(long, value_name = "LEVEL", value_parser = clap::builder::ValueParser::new(parse_severity))]
    pub(crate) fail_on: Option<Severity>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse()
}

/// `--json`'s document. Written straight from the reports, which can be tens of megabytes
/// for `--all`: no intermediate `serde_json::Value`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditOutput<'a> {
    schema_version: u64,
    advisories: AdvisorySource<'a>,
    reports: &'a [AuditReport],
    not_locked: &'a [String],
}

#[derive(Serialize)]
struct AdvisorySource<'a> {
    source: &'a str,
    records: usize,
    withdrawn: usize,
}

/// An environment version to audit, with its lock.
struct Target {
    name: String,
    version: EnvironmentVersion,
    /// The hash of its definition (versions with the same one share their requirements).
    spec_hash: String,
    lock: LockRecord,
}

/// The versions to audit, each known to have a lock, and the `NAME:VERSION`s of those
/// `--all` skips for having none.
fn read_targets(workspace: &Workspace, args: &AuditArgs) -> Result<(Vec<Target>, Vec<String>)> {
    let mut targets = Vec::new();
    let mut not_locked = Vec::new();
    if args.all {
        for summary in workspace.list_environments(false, false)? {
            match workspace.get_lock(&summary.name, &summary.version)? {
                Some(lock) => targets.push(Target {
                    name: summary.name,
                    version: summary.version,
                    spec_hash: summary.spec_hash,
                    lock,
                }),
                None => not_locked.push(format!("{}:{}", summary.name, summary.version)),
            }
        }
    } else {
        let reference = parse_ref(args.environment.as_deref().unwrap_or_default())?;
        let record = workspace.get_environment(&reference.name, reference.version.as_ref())?;
        let Some(lock) = workspace.get_lock(&record.name, &record.version)? else {
            return Err(InventoryError::NotLocked {
                name: record.name,
                version: record.version,
            }
            .into());
        };
        targets.push(Target {
            name: record.name,
            version: record.version,
            spec_hash: record.summary.spec_hash,
            lock,
        });
    }
    Ok((targets, not_locked))
}

pub(crate) fn audit(context: &Context, args: &AuditArgs) -> Result<()> {
    let Some(source) = &args.advisories else {
        return Err(UsageError::new("No advisory source to audit against")
            .hint("Pass `--advisories DIR|ZIP|URL` (OSV records, e.g. a mirror of the PyPA advisory database, or `https://api.osv.dev/v1` where the network allows) or set `STRATA_ADVISORIES`")
            .into());
    };
    let online = is_online_source(source);
    let source_text = if online {
        source.clone()
    } else {
        context.cwd.join(source).display().to_string()
    };
    // Parsed advisories are kept in the cache, keyed by the state of the source.
    let cache = strata_build::Cache::from_env().root().join("advisories-v1");
    let workspace = context.open_workspace()?;
    let (targets, not_locked, database) = std::thread::scope(|scope| -> Result<_> {
        // A local source is read (or its parsed copy loaded) on another thread while the
        // locks are read here; lock errors still come first.
        let loading = (!online).then(|| {
            scope.spawn(|| AdvisoryDatabase::load_cached(Path::new(&source_text), &cache))
        });
        let (targets, not_locked) = read_targets(&workspace, args)?;
        let database = match loading {
            Some(loading) => loading
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
            None => {
                // Only the packages these locks pin are asked about.
                let mut packages: Vec<(String, String)> = targets
                    .iter()
                    .flat_map(|target| target.lock.lock.pypi.iter())
                    .map(|package| (package.name.clone(), package.version.clone()))
                    .collect();
                packages.sort();
                packages.dedup();
                fetch_advisories(source, &packages)?
            }
        };
        Ok((targets, not_locked, database))
    })?;
    let mut reports = Vec::with_capacity(targets.len());
    let mut auditor = Auditor::new(&database);
    for target in &targets {
        // The definition only matters for suggestions: it is read when something is found.
        let report = auditor.audit(
            &format!("{}:{}", target.name, target.version),
            &target.lock.lock_hash,
            &target.lock.lock,
            Some(&target.spec_hash),
            || {
                workspace
                    .get_environment(&target.name, Some(&target.version))
                    .map(|record| Some(record.environment))
            },
        )?;
        reports.push(report);
    }
    if args.json {
        let output = AuditOutput {
            schema_version: printer::SCHEMA_VERSION,
            advisories: AdvisorySource {
                source: &source_text,
                records: database.records,
                withdrawn: database.withdrawn,
            },
            reports: &reports,
            not_locked: &not_locked,
        };
        // Sized for the document up front (an `--all` audit writes about 450 bytes per
        // finding): growing a 35 MB buffer by doubling copies it all again.
        let findings: usize = reports
            .iter()
            .flat_map(|report| &report.vulnerable)
            .map(|package| package.advisories.len())
            .sum();
        let mut document = Vec::with_capacity(4096 + 1024 * reports.len() + 512 * findings);
        serde_json::to_writer_pretty(&mut document, &output)?;
        printer::out(String::from_utf8(document)?);
    } else {
        render(&reports, &not_locked, &database);
    }
    if let Some(level) = args.fail_on
        && reports.iter().any(|report| report.reaches(level))
    {
        return Err(ExitWith(1).into());
    }
    Ok(())
}

fn render(reports: &[AuditReport], not_locked: &[String], database: &AdvisoryDatabase) {
    let mut out = vec![format!(
        "Advisories: {} PyPI records ({} read, {} withdrawn and skipped)",
        database.len(),
        database.records,
        database.withdrawn
    )];
    for report in reports {
        let findings: usize = report.vulnerable.iter().map(|p| p.advisories.len()).sum();
        out.push(String::new());
        let found = if findings == 0 {
            "no known advisories".to_string()
        } else {
            format!(
                "{} with {}",
                plural(report.vulnerable.len(), "package"),
                plural(findings, "advisory")
            )
        };
        out.push(format!(
            "{} (lock {}): {} checked, {found}; {} unchecked",
            report.environment,
            &report.lock_hash[..12.min(report.lock_hash.len())],
            plural(report.checked, "PyPI package"),
            report.unchecked.len()
        ));
        if !report.vulnerable.is_empty() {
            let rows: Vec<Vec<String>> = report
                .vulnerable
                .iter()
                .flat_map(|package| {
                    package.advisories.iter().map(move |finding| {
                        vec![
                            package.name.clone(),
                            package.version.clone(),
                            finding.id.clone(),
                            finding.aliases.join(", "),
                            match (finding.severity, finding.score) {
                                (Some(severity), Some(score)) => format!("{severity} {score:.1}"),
                                (Some(severity), None) => severity.to_string(),
                                (None, _) => "unknown".to_string(),
                            },
                            if finding.fixed.is_empty() {
                                "-".to_string()
                            } else {
                                finding.fixed.join(", ")
                            },
                        ]
                    })
                })
                .collect();
            out.push(table::render(
                &[
                    "PACKAGE", "VERSION", "ADVISORY", "ALIASES", "SEVERITY", "FIXED IN",
                ],
                &rows,
            ));
            for package in &report.vulnerable {
                let requirement = package
                    .requirement
                    .as_deref()
                    .map(|text| format!(" (allowed by `{text}`)"))
                    .unwrap_or_default();
                let line = match (&package.suggested, &package.fixed_outside_requirement) {
                    (Some(version), _) => {
                        format!("upgrade {} to {version}{requirement}", package.name)
                    }
                    (None, Some(version)) => format!(
                        "{} {version} fixes it, but the definition's `{}` excludes it: change the definition",
                        package.name,
                        package.requirement.as_deref().unwrap_or_default()
                    ),
                    (None, None) => format!(
                        "{}: no version the advisories know as fixed clears them all",
                        package.name
                    ),
                };
                out.push(format!("  {line}"));
            }
        }
        if !report.unchecked.is_empty() {
            out.push("Unchecked (no advisory source; not known to be clean):".to_string());
            for package in &report.unchecked {
                out.push(format!(
                    "  {}:{} {}: {}",
                    package.ecosystem, package.name, package.version, package.reason
                ));
            }
        }
    }
    if !not_locked.is_empty() {
        out.push(String::new());
        out.push(format!(
            "Not locked, not audited: {} (lock with `strata env lock NAME:VERSION`)",
            not_locked.join(", ")
        ));
    }
    printer::out(out.join("\n"));
}

/// `1 advisory`, `2 advisories`, `3 packages`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{count} {stem}ies")
    } else {
        format!("{count} {noun}s")
    }
}
