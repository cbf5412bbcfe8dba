//! `strata env audit NAME[:VERSION] | --all`: the pinned packages of locks against OSV
//! advisories from a local directory or zip archive.

use std::borrow::Cow;

use anyhow::Result;
use strata_core::{AdvisorySource, AuditOutcome, AuditScope};
use strata_inventory::{AdvisoryDatabase, AuditReport, Severity, is_online_source};

use super::audit_json::{self, Head, SourceSummary};
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

pub(crate) fn audit(context: &Context, args: &AuditArgs) -> Result<()> {
    let Some(source) = &args.advisories else {
        return Err(UsageError::new("No advisory source to audit against")
            .hint("Pass `--advisories DIR|ZIP|URL` (OSV records, e.g. a mirror of the PyPA advisory database, or `https://api.osv.dev/v1` where the network allows) or set `STRATA_ADVISORIES`")
            .into());
    };
    let (advisories, source_text) = if is_online_source(source) {
        let url = source.clone();
        (AdvisorySource::Online { url: url.clone() }, url)
    } else {
        let path = context.cwd.join(source);
        let text = path.display().to_string();
        // Parsed advisories are kept in the cache, keyed by the state of the source.
        let cache = strata_build::Cache::from_env().root().join("advisories-v1");
        (AdvisorySource::Local { path, cache }, text)
    };
    let scope = if args.all {
        AuditScope::AllLatest
    } else {
        AuditScope::One(parse_ref(args.environment.as_deref().unwrap_or_default())?)
    };
    let opened = context.open()?;
    let AuditOutcome {
        reports,
        not_locked,
        database,
    } = opened.block_on(strata_core::audit(
        opened.records.as_ref(),
        &scope,
        &advisories,
    ))?;
    if args.json {
        let head = Head {
            schema_version: printer::SCHEMA_VERSION,
            advisories: SourceSummary {
                source: &source_text,
                records: database.records,
                withdrawn: database.withdrawn,
            },
        };
        audit_json::print(&head, &reports, &not_locked);
    } else {
        render(&reports, &not_locked, &database);
    }
    let reached = args
        .fail_on
        .is_some_and(|level| reports.iter().any(|report| report.reaches(level)));
    // The process ends after this command: freeing the reports and the advisories (hundreds of
    // thousands of allocations for `--all`) would only delay its exit.
    std::mem::forget((reports, database));
    if reached {
        return Err(ExitWith(1).into());
    }
    Ok(())
}

/// The report as text. `--all` over a large workspace makes tens of thousands of table rows,
/// so the reports are written by every core, a chunk at a time and in order (cells borrowed
/// where they can be), not a string per cell and per line joined afterwards.
fn render(reports: &[AuditReport], not_locked: &[String], database: &AdvisoryDatabase) {
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
    printer::out_part(&out);
    printer::out_in_order(
        reports,
        REPORTS_PER_CHUNK,
        Vec::new,
        |rows, _, chunk, out| {
            let mut text = String::from_utf8(std::mem::take(out)).unwrap_or_default();
            for report in chunk {
                render_report(&mut text, rows, report);
            }
            *out = text.into_bytes();
        },
    );
    if !not_locked.is_empty() {
        printer::out(format!(
            "\nNot locked, not audited: {} (lock with `strata env lock NAME:VERSION`)",
            not_locked.join(", ")
        ));
    }
}

/// Reports per chunk of output.
const REPORTS_PER_CHUNK: usize = 16;

/// One report's lines (its table, advice and unchecked packages), appended to `out`.
fn render_report<'a>(out: &mut String, rows: &mut Vec<[Cow<'a, str>; 6]>, report: &'a AuditReport) {
    const HEADER: [&str; 6] = [
        "PACKAGE", "VERSION", "ADVISORY", "ALIASES", "SEVERITY", "FIXED IN",
    ];
    let findings: usize = report.vulnerable.iter().map(|p| p.advisories.len()).sum();
    line(out, "");
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
        out,
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
        write_table(out, &HEADER, rows);
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
            line(out, &format!("  {advice}"));
        }
    }
    if !report.unchecked.is_empty() {
        line(
            out,
            "Unchecked (no advisory source; not known to be clean):",
        );
        for package in &report.unchecked {
            line(
                out,
                &format!(
                    "  {}:{} {}: {}",
                    package.ecosystem, package.name, package.version, package.reason
                ),
            );
        }
    }
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
