//! All terminal output goes through here: results on stdout, warnings and errors on stderr.
#![expect(clippy::print_stderr, reason = "the one place that prints")]

use std::io::{self, Write};

use serde::Serialize;

/// Prints a line of results; a closed pipe (`strata env list | head`) is not an error.
pub(crate) fn out(text: impl AsRef<str>) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{}", text.as_ref());
}

pub(crate) fn json<T: Serialize + ?Sized>(value: &T) {
    out(serde_json::to_string_pretty(value).unwrap_or_default());
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
