//! A temporary directory with a workspace, and helpers to run `strata` in it.

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) struct TestContext {
    pub(crate) temp: tempfile::TempDir,
}

/// The output of one run, rendered for snapshots: exit code, stdout, stderr, temp paths
/// replaced by `[TEMP]`.
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

impl TestContext {
    /// A temp dir with an initialised workspace.
    pub(crate) fn new() -> Self {
        let context = Self::bare();
        let output = context.run(&["init"]);
        assert_eq!(output.code, 0, "{output}");
        context
    }

    /// A temp dir without a workspace.
    pub(crate) fn bare() -> Self {
        Self {
            temp: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.temp.path()
    }

    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        command
            .current_dir(self.path())
            .env_remove("STRATA_WORKSPACE")
            .env("STRATA_CACHE", shared_cache());
        command
    }

    /// A command with a cache of its own, for tests that count or remove prefixes.
    pub(crate) fn command_with_cache(&self, cache: &Path) -> Command {
        let mut command = self.command();
        command.env("STRATA_CACHE", cache);
        command
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.output(self.command().args(args))
    }

    pub(crate) fn output(&self, command: &mut Command) -> Output {
        let output = command.output().expect("run strata");
        let filter = |bytes: &[u8]| -> String {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let root = self.path().display().to_string();
            let canonical = self
                .path()
                .canonicalize()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let mut text = text.replace(&canonical, "[TEMP]").replace(&root, "[TEMP]");
            text = filter_times(&text);
            text
        };
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: filter(&output.stdout),
            stderr: filter(&output.stderr),
        }
    }

    /// Runs and expects success; returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(output.code, 0, "strata {}: {output}", args.join(" "));
        output.stdout
    }

    pub(crate) fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("JSON output")
    }

    pub(crate) fn write(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).unwrap();
        }
        fs_err::write(&path, content).unwrap();
        path
    }

    pub(crate) fn read(&self, relative: &str) -> String {
        fs_err::read_to_string(self.path().join(relative)).unwrap()
    }
}

/// One cache for the whole test run, so uv and its downloads are fetched once; tests that
/// need isolation use [`TestContext::command_with_cache`] with a cache of their own, which
/// shares the tool directory through `STRATA_CACHE`'s layout only.
pub(crate) fn shared_cache() -> PathBuf {
    std::env::var_os("STRATA_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("strata-test-cache"))
}

/// The repository's `test-data/` directory.
pub(crate) fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-data")
}

/// Replaces RFC 3339 times (`2026-11-28T08:31:55Z`) with `[TIME]`.
fn filter_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        let rest = &bytes[index..];
        if rest.len() >= 20
            && rest[..4].iter().all(u8::is_ascii_digit)
            && rest[4] == b'-'
            && rest[10] == b'T'
            && rest[19] == b'Z'
        {
            out.push_str("[TIME]");
            index += 20;
        } else {
            let c = text[index..].chars().next().unwrap_or(' ');
            out.push(c);
            index += c.len_utf8();
        }
    }
    out
}
