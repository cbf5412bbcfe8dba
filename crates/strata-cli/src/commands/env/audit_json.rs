//! `env audit --json`, written as `serde_json::to_writer_pretty` writes it, but faster: an
//! `--all` audit repeats the same few thousand advisories in tens of thousands of places (35 MB
//! for 1,000 locks), so each distinct advisory is serialised once and its text copied, and the
//! reports are written on every core. The unit test holds the bytes to serde's.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use strata_inventory::{AdvisoryFinding, AuditReport, PackageAudit, UncheckedPackage};

use crate::printer;

/// Where `reports` sits in the document: `{ "reports": [ {...} ] }`.
const REPORT_DEPTH: usize = 2;

/// The document's head: everything before `reports`, serialised by serde.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Head<'a> {
    pub(super) schema_version: u64,
    pub(super) advisories: SourceSummary<'a>,
}

#[derive(Serialize)]
pub(super) struct SourceSummary<'a> {
    pub(super) source: &'a str,
    pub(super) records: usize,
    pub(super) withdrawn: usize,
}

/// Reports per chunk of output: a chunk of 1,000 reports' audit is about half a megabyte.
const REPORTS_PER_CHUNK: usize = 16;

/// Prints the whole document: `head`'s fields, then `reports` (written on every core, a chunk
/// at a time, in order) and `notLocked`.
pub(super) fn print(head: &Head<'_>, reports: &[AuditReport], not_locked: &[String]) {
    let (start, end) = frame(head, reports.is_empty(), not_locked);
    printer::out_part(&start);
    printer::out_in_order(
        reports,
        REPORTS_PER_CHUNK,
        Writer::default,
        |writer, index, chunk, out| writer.chunk(index == 0, chunk, out),
    );
    printer::out_part(&end);
    printer::out_part("\n");
}

/// What comes before the reports (`head`'s fields, `"reports": [`) and after them.
fn frame(head: &Head<'_>, no_reports: bool, not_locked: &[String]) -> (String, String) {
    let mut start = serde_json::to_vec_pretty(head).unwrap_or_default();
    // Reopen the head's object: drop its closing "\n}".
    start.truncate(start.len().saturating_sub(2));
    start.extend_from_slice(b",\n  \"reports\": ");
    let mut end = Vec::new();
    if no_reports {
        start.extend_from_slice(b"[]");
    } else {
        start.push(b'[');
        newline(&mut end, REPORT_DEPTH - 1);
        end.push(b']');
    }
    end.extend_from_slice(b",\n  \"notLocked\": ");
    strings(&mut end, not_locked, 1);
    end.extend_from_slice(b"\n}");
    // serde's JSON of UTF-8 strings, cut between values.
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap_or_default();
    (text(start), text(end))
}

/// Writes values at a depth as serde_json's `PrettyFormatter` does (two spaces a level, `": "`
/// after keys, `[]` and `{}` when empty).
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    /// Each advisory's JSON, indented to its depth, by identity and depth: findings are shared
    /// between locks, so each is serialised and indented once and then only copied.
    findings: HashMap<(*const AdvisoryFinding, usize), Vec<u8>>,
}

impl Writer {
    /// Writes `reports` into `out`, each preceded by its separator (none before the very
    /// first report of the document).
    fn chunk(&mut self, first_chunk: bool, reports: &[AuditReport], out: &mut Vec<u8>) {
        self.out = std::mem::take(out);
        for (offset, report) in reports.iter().enumerate() {
            if !first_chunk || offset > 0 {
                self.out.push(b',');
            }
            newline(&mut self.out, REPORT_DEPTH);
            self.report(report, REPORT_DEPTH);
        }
        *out = std::mem::take(&mut self.out);
    }

    fn report(&mut self, report: &AuditReport, depth: usize) {
        // The fields in `AuditReport`'s order.
        let AuditReport {
            environment,
            lock_hash,
            checked,
            vulnerable,
            unchecked,
        } = report;
        self.out.push(b'{');
        key(&mut self.out, "environment", depth + 1, true);
        value(&mut self.out, environment);
        key(&mut self.out, "lockHash", depth + 1, false);
        value(&mut self.out, lock_hash);
        key(&mut self.out, "checked", depth + 1, false);
        value(&mut self.out, checked);
        key(&mut self.out, "vulnerable", depth + 1, false);
        self.array(vulnerable, depth + 1, Self::package);
        key(&mut self.out, "unchecked", depth + 1, false);
        self.array(unchecked, depth + 1, |writer, package, depth| {
            writer.unchecked(package, depth)
        });
        newline(&mut self.out, depth);
        self.out.push(b'}');
    }

    fn package(&mut self, package: &PackageAudit, depth: usize) {
        let PackageAudit {
            name,
            version,
            advisories,
            requirement,
            suggested,
            fixed_outside_requirement,
        } = package;
        self.out.push(b'{');
        key(&mut self.out, "name", depth + 1, true);
        value(&mut self.out, name);
        key(&mut self.out, "version", depth + 1, false);
        value(&mut self.out, version);
        key(&mut self.out, "advisories", depth + 1, false);
        self.array(advisories, depth + 1, Self::finding);
        key(&mut self.out, "requirement", depth + 1, false);
        value(&mut self.out, requirement);
        key(&mut self.out, "suggested", depth + 1, false);
        value(&mut self.out, suggested);
        key(&mut self.out, "fixedOutsideRequirement", depth + 1, false);
        value(&mut self.out, fixed_outside_requirement);
        newline(&mut self.out, depth);
        self.out.push(b'}');
    }

    fn unchecked(&mut self, package: &UncheckedPackage, depth: usize) {
        // Small and varied: serde's own text, indented to its place.
        let text = serde_json::to_vec_pretty(package).unwrap_or_default();
        indented(&mut self.out, &text, depth);
    }

    fn finding(&mut self, finding: &Arc<AdvisoryFinding>, depth: usize) {
        let text = self
            .findings
            .entry((Arc::as_ptr(finding), depth))
            .or_insert_with(|| {
                let text = serde_json::to_vec_pretty(finding.as_ref()).unwrap_or_default();
                let mut out = Vec::with_capacity(text.len() * 2);
                indented(&mut out, &text, depth);
                out
            });
        self.out.extend_from_slice(text);
    }

    fn array<T>(&mut self, items: &[T], depth: usize, mut item: impl FnMut(&mut Self, &T, usize)) {
        if items.is_empty() {
            self.out.extend_from_slice(b"[]");
            return;
        }
        self.out.push(b'[');
        for (index, element) in items.iter().enumerate() {
            if index > 0 {
                self.out.push(b',');
            }
            newline(&mut self.out, depth + 1);
            item(self, element, depth + 1);
        }
        newline(&mut self.out, depth);
        self.out.push(b']');
    }
}

fn newline(out: &mut Vec<u8>, depth: usize) {
    out.push(b'\n');
    out.extend(std::iter::repeat_n(b' ', 2 * depth));
}

/// `"name": ` on its own line, after a comma unless it is the object's first key.
fn key(out: &mut Vec<u8>, name: &str, depth: usize, first: bool) {
    if !first {
        out.push(b',');
    }
    newline(out, depth);
    value(out, name);
    out.extend_from_slice(b": ");
}

/// A scalar (or `null`), as serde writes it: the same in compact and pretty form.
fn value(out: &mut Vec<u8>, scalar: &(impl Serialize + ?Sized)) {
    let _ = serde_json::to_writer(&mut *out, scalar);
}

fn strings(out: &mut Vec<u8>, items: &[String], depth: usize) {
    let text = serde_json::to_vec_pretty(items).unwrap_or_default();
    indented(out, &text, depth);
}

/// `text`, pretty JSON written at depth 0, moved to `depth`: JSON strings hold no raw newline,
/// so every newline in it is the formatter's.
fn indented(out: &mut Vec<u8>, text: &[u8], depth: usize) {
    let mut lines = text.split(|&byte| byte == b'\n');
    if let Some(first) = lines.next() {
        out.extend_from_slice(first);
    }
    for line in lines {
        newline(out, depth);
        out.extend_from_slice(line);
    }
}

#[cfg(test)]
mod tests {
    use strata_inventory::Severity;

    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Whole<'a> {
        schema_version: u64,
        advisories: SourceSummary<'a>,
        reports: &'a [AuditReport],
        not_locked: &'a [String],
    }

    fn finding(id: &str, aliases: &[&str], severity: Option<Severity>) -> Arc<AdvisoryFinding> {
        Arc::new(AdvisoryFinding {
            id: id.to_string(),
            aliases: aliases.iter().map(ToString::to_string).collect(),
            summary: Some(format!("A \"quoted\" summary of {id}\u{202e} with ünïcode")),
            severity,
            score: severity.map(|_| 7.5),
            fixed: vec!["1.10".to_string(), "2.0.post1".to_string()],
        })
    }

    fn reports(count: usize) -> Vec<AuditReport> {
        let shared = finding("PYSEC-1", &["CVE-1", "GHSA-x"], Some(Severity::High));
        let other = finding("PYSEC-2", &[], None);
        (0..count)
            .map(|index| AuditReport {
                environment: format!("env{index}:1"),
                lock_hash: format!("{index:064x}"),
                checked: index % 7,
                vulnerable: match index % 3 {
                    0 => Vec::new(),
                    _ => vec![
                        PackageAudit {
                            name: "demo".to_string(),
                            version: "1.9".to_string(),
                            advisories: vec![Arc::clone(&shared), Arc::clone(&other)],
                            requirement: Some("demo>=1".to_string()),
                            suggested: Some("1.10".to_string()),
                            fixed_outside_requirement: None,
                        },
                        PackageAudit {
                            name: "other".to_string(),
                            version: "0.1".to_string(),
                            advisories: vec![Arc::clone(&other)],
                            requirement: None,
                            suggested: None,
                            fixed_outside_requirement: Some("2.0".to_string()),
                        },
                    ],
                },
                unchecked: match index % 2 {
                    0 => Vec::new(),
                    _ => vec![UncheckedPackage {
                        ecosystem: "conda".to_string(),
                        name: "openssl".to_string(),
                        version: "3.0.1".to_string(),
                        reason: "no advisory source".to_string(),
                    }],
                },
            })
            .collect()
    }

    #[test]
    fn the_document_is_byte_for_byte_what_serde_writes() {
        for (count, not_locked) in [
            (0, vec![]),
            (1, vec!["a:1".to_string()]),
            (5, vec![]),
            (300, vec!["a:1".to_string(), "b:2".to_string()]),
        ] {
            let reports = reports(count);
            let advisories = || SourceSummary {
                source: "/advisories \"dir\"",
                records: 3,
                withdrawn: 1,
            };
            let expected = serde_json::to_string_pretty(&Whole {
                schema_version: 1,
                advisories: advisories(),
                reports: &reports,
                not_locked: &not_locked,
            })
            .unwrap();
            let head = Head {
                schema_version: 1,
                advisories: advisories(),
            };
            let (start, end) = frame(&head, reports.is_empty(), &not_locked);
            let mut body = Vec::new();
            // Chunks of several sizes, as the threads would write them one after the other.
            let mut writer = Writer::default();
            for (index, chunk) in reports.chunks(7).enumerate() {
                let mut out = Vec::new();
                writer.chunk(index == 0, chunk, &mut out);
                body.extend(out);
            }
            assert_eq!(
                format!("{start}{}{end}", String::from_utf8(body).unwrap()),
                expected,
                "{count} reports"
            );
        }
    }
}
