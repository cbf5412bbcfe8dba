//! All terminal output goes through here: results on stdout, warnings and errors on stderr.
#![expect(clippy::print_stderr, reason = "the one place that prints")]

use std::io::{self, Write};

use serde::Serialize;

/// Prints a line of results; a closed pipe (`strata env list | head`) is not an error.
pub(crate) fn out(text: impl AsRef<str>) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{}", text.as_ref());
}

/// The version of the `--json` output contract (`docs/json.md`); raised only when a field is
/// removed or changes meaning, never for an added field.
pub(crate) const SCHEMA_VERSION: u64 = 1;

/// Prints a `--json` result: an object gains `schemaVersion` as its first field, and so does
/// each object of a top-level array (list commands keep printing arrays).
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) {
    let value = with_schema_version(serde_json::to_value(value).unwrap_or_default());
    out(serde_json::to_string_pretty(&value).unwrap_or_default());
}

fn with_schema_version(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            let mut object = serde_json::Map::new();
            object.insert("schemaVersion".to_string(), Value::from(SCHEMA_VERSION));
            object.extend(fields.into_iter().filter(|(k, _)| k != "schemaVersion"));
            Value::Object(object)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(_) => with_schema_version(item),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

pub(crate) fn warn(text: impl AsRef<str>) {
    eprintln!("warning: {}", text.as_ref());
}

pub(crate) fn note(text: impl AsRef<str>) {
    eprintln!("{}", text.as_ref());
}

pub(crate) fn error(text: impl AsRef<str>) {
    eprintln!("{}", text.as_ref());
}

/// Passes bytes through to stdout as they come (a run's output).
pub(crate) fn raw_stdout(bytes: &[u8]) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

/// Passes bytes through to stderr as they come.
pub(crate) fn raw_stderr(bytes: &[u8]) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(bytes);
    let _ = stderr.flush();
}
