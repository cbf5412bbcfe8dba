//! Progress and the build log. Libraries never print: they tell a [`Reporter`].

use std::fmt::Write as _;
use std::time::Instant;

/// Receives progress while an environment is resolved or built.
pub trait Reporter {
    /// A step starts, e.g. "Resolving PyPI packages with uv".
    fn step(&self, message: &str);

    /// Something the user should know before it costs them, e.g. a package that will be
    /// compiled from source.
    fn warn(&self, message: &str) {
        let _ = message;
    }
}

/// A reporter that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct SilentReporter;

impl Reporter for SilentReporter {
    fn step(&self, _message: &str) {}
}

/// The full record of a build: every step, command and its output, with elapsed times.
#[derive(Debug)]
pub struct BuildLog {
    started: Instant,
    text: String,
}

impl Default for BuildLog {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            text: String::new(),
        }
    }
}

impl BuildLog {
    pub fn line(&mut self, line: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let _ = writeln!(self.text, "[{elapsed:8.3}s] {line}");
        // The build log's lines are what `-v` shows of a build as it happens.
        // (Steps are on the terminal already, commands are traced where they run.)
        if !line.starts_with("$ ") && !line.starts_with("==> ") {
            tracing::debug!(target: "strata_build", "{line}");
        }
    }

    pub(crate) fn output(&mut self, label: &str, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        if text.trim().is_empty() {
            return;
        }
        tracing::trace!(target: "strata_build", "{label}:\n{}", text.trim_end());
        let _ = writeln!(self.text, "----- {label} -----");
        self.text.push_str(&text);
        if !text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Reports a step and records it in the log.
pub(crate) fn step(reporter: &dyn Reporter, log: &mut BuildLog, message: &str) {
    reporter.step(message);
    log.line(&format!("==> {message}"));
}
