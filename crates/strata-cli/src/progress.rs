//! Build progress on the terminal: a spinner on a TTY, plain lines otherwise (logs, CI).
#![expect(clippy::print_stderr, reason = "progress goes to stderr")]

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use strata_build::Reporter;

pub(crate) struct TerminalReporter {
    spinner: Option<ProgressBar>,
}

impl TerminalReporter {
    pub(crate) fn new() -> Self {
        let spinner = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self { spinner }
    }
}

impl Reporter for TerminalReporter {
    fn step(&self, message: &str) {
        // Steps name channels, packages and paths from definitions.
        let message = crate::printer::escape_controls(message);
        match &self.spinner {
            Some(bar) => bar.set_message(message.to_string()),
            None => eprintln!("==> {message}"),
        }
    }

    fn warn(&self, message: &str) {
        match &self.spinner {
            Some(bar) => bar.suspend(|| crate::printer::warn(message)),
            None => crate::printer::warn(message),
        }
    }
}

impl Drop for TerminalReporter {
    fn drop(&mut self) {
        if let Some(bar) = &self.spinner {
            bar.finish_and_clear();
        }
    }
}
