//! `strata env audit NAME[:VERSION] | --all`: the pinned packages of locks against OSV
//! advisories from a local directory or zip archive.

use std::borrow::Cow;
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
use crate::printer;

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
        for (summary, lock) in workspace.latest_with_locks()? {
            match lock {
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

/// The report as text. `--all` over a large workspace makes tens of thousands of table rows,
/// so everything is written into one buffer (cells borrowed where they can be), not built as
/// a string per cell and per line and then joined.
fn render(reports: &[AuditReport], not_locked: &[String], database: &AdvisoryDatabase) {
    const HEADER: [&str; 6] = [
        "PACKAGE", "VERSION", "ADVISORY", "ALIASES", "SEVERITY", "FIXED IN",
    ];
    let mut out = String::new();
    line(
        &mut out,
        &format!(
            "Advisories: {} PyPI records ({} read, {} withdrawn and skipped)",
            database.len(),
            database.records,
            database.withdrawn
        ),
    );
    let mut rows: Vec<[Cow<'_, str>; 6]> = Vec::new();
    for report in reports {
        let findings: usize = report.vulnerable.iter().map(|p| p.advisories.len()).sum();
        line(&mut out, "");
        let found = if findings == 0 {
            "no known advisories".to_string()
        } else {
            format!(
                "{} with {}",
                plural(report.vulnerable.len(), "package"),
                plural(findings, "advisory")
            )
        };
        line(
            &mut out,
            &format!(
                "{} (lock {}): {} checked, {found}; {} unchecked",
                report.environment,
                &report.lock_hash[..12.min(report.lock_hash.len())],
                plural(report.checked, "PyPI package"),
                report.unchecked.len()
            ),
        );
        if !report.vulnerable.is_empty() {
            rows.clear();
            for package in &report.vulnerable {
                for finding in &package.advisories {
                    rows.push([
                        Cow::Borrowed(package.name.as_str()),
                        Cow::Borrowed(package.version.as_str()),
                        Cow::Borrowed(finding.id.as_str()),
                        joined(&finding.aliases, ""),
                        match (finding.severity, finding.score) {
                            (Some(severity), Some(score)) => {
                                Cow::Owned(format!("{severity} {score:.1}"))
                            }
                            (Some(severity), None) => Cow::Borrowed(severity.as_str()),
                            (None, _) => Cow::Borrowed("unknown"),
                        },
                        joined(&finding.fixed, "-"),
                    ]);
                }
            }
            write_table(&mut out, &HEADER, &rows);
            for package in &report.vulnerable {
                let requirement = package
                    .requirement
                    .as_deref()
                    .map(|text| format!(" (allowed by `{text}`)"))
                    .unwrap_or_default();
                let advice = match (&package.suggested, &package.fixed_outside_requirement) {
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
                line(&mut out, &format!("  {advice}"));
            }
        }
        if !report.unchecked.is_empty() {
            line(
                &mut out,
                "Unchecked (no advisory source; not known to be clean):",
            );
            for package in &report.unchecked {
                line(
                    &mut out,
                    &format!(
                        "  {}:{} {}: {}",
                        package.ecosystem, package.name, package.version, package.reason
                    ),
                );
            }
        }
    }
    if !not_locked.is_empty() {
        out.push('\n');
        out.push_str(&format!(
            "Not locked, not audited: {} (lock with `strata env lock NAME:VERSION`)\n",
            not_locked.join(", ")
        ));
    }
    out.pop();
    printer::out(out);
}

/// Appends `text` and a newline.
fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

/// `items` joined by `, `, borrowed when there is one; `empty` when there is none.
fn joined<'a>(items: &'a [String], empty: &'static str) -> Cow<'a, str> {
    match items {
        [] => Cow::Borrowed(empty),
        [one] => Cow::Borrowed(one.as_str()),
        _ => Cow::Owned(items.join(", ")),
    }
}

/// Appends the lines of [`table::render`]'s table (columns padded to their widest cell plus
/// two spaces, trailing space trimmed), each ending in a newline.
fn write_table<const N: usize>(out: &mut String, header: &[&str; N], rows: &[[Cow<'_, str>; N]]) {
    let mut widths = header.map(|cell| cell.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let start = out.len();
        for (index, cell) in cells.enumerate() {
            out.push_str(cell);
            if index + 1 < N {
                let padding = widths[index] - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', padding));
            }
        }
        let kept = out[start..].trim_end().len();
        out.truncate(start + kept);
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(AsRef::as_ref));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table;

    #[test]
    fn the_audit_table_is_laid_out_as_every_other_table() {
        let header = ["NAME", "WIDE COLUMN", "LAST"];
        let rows = [
            ["a", "", "x"],
            ["naïve-ünïcode", "b", ""],
            ["c", "a much wider cell", "trailing  "],
        ];
        let mut written = String::from("before\n");
        write_table(
            &mut written,
            &header,
            &rows.map(|row| row.map(Cow::Borrowed)),
        );
        let rendered = table::render(&header, &rows.map(|row| row.map(String::from).to_vec()));
        assert_eq!(written, format!("before\n{rendered}\n"));
    }
}
