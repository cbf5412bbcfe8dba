//! The pinned `uv`: taken from PATH when it is that version, otherwise installed once from PyPI
//! into Strata's tool directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::cache::Cache;
use crate::error::BuildError;
use crate::reporter::BuildLog;

/// The uv version Strata drives; its command line and output formats are relied on.
pub const UV_VERSION: &str = "0.13.9";

/// A located uv binary.
#[derive(Debug, Clone)]
pub struct Uv {
    path: PathBuf,
    cache_dir: PathBuf,
}

impl Uv {
    /// Finds uv on PATH (if it is the pinned version) or in the tool directory, installing it
    /// there with `python3 -m pip install --target` when missing. Concurrent callers install once.
    pub fn locate(cache: &Cache, log: &mut BuildLog) -> Result<Self, BuildError> {
        let cache_dir = cache.uv_cache_dir();
        if let Some(path) = which("uv")
            && version_of(&path).as_deref() == Some(UV_VERSION)
        {
            return Ok(Self { path, cache_dir });
        }
        let dir = cache.tools_dir().join(format!("uv-{UV_VERSION}"));
        let binary = dir.join("bin").join("uv");
        if binary.is_file() {
            return Ok(Self {
                path: binary,
                cache_dir,
            });
        }
        cache.ensure()?;
        let lock_path = cache.tools_dir().join(format!("uv-{UV_VERSION}.lock"));
        let lock = fs_err::File::create(&lock_path).map_err(|e| BuildError::io(&lock_path, e))?;
        lock.file()
            .lock()
            .map_err(|e| BuildError::io(&lock_path, e))?;
        if !binary.is_file() {
            install(cache, &dir, log)?;
        }
        Ok(Self {
            path: binary,
            cache_dir,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `uv` command with Strata's cache and no interpreter downloads.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        command
            .env("UV_CACHE_DIR", &self.cache_dir)
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_NO_PROGRESS", "1")
            .env_remove("VIRTUAL_ENV")
            .env_remove("CONDA_PREFIX")
            .env_remove("UV_SYSTEM_PYTHON");
        command
    }
}

/// Runs a command, records it and its output in the log, and fails with its stderr.
pub(crate) fn run(mut command: Command, log: &mut BuildLog) -> Result<Output, BuildError> {
    let line = display(&command);
    log.line(&format!("$ {line}"));
    tracing::debug!("running {line}");
    let started = std::time::Instant::now();
    let output = command.output().map_err(|source| BuildError::Io {
        path: PathBuf::from(command.get_program()),
        source,
    })?;
    tracing::debug!(
        "{} exited with {} after {} ms",
        command.get_program().to_string_lossy(),
        output.status,
        started.elapsed().as_millis()
    );
    finish(line, output, log)
}

/// Records a finished command's output in the log, and fails with its stderr.
pub(crate) fn finish(
    display: String,
    output: Output,
    log: &mut BuildLog,
) -> Result<Output, BuildError> {
    log.output("stdout", &output.stdout);
    log.output("stderr", &output.stderr);
    if !output.status.success() {
        return Err(BuildError::Command {
            command: display,
            status: output.status.to_string(),
            stderr: summarize(String::from_utf8_lossy(&output.stderr).trim()),
        });
    }
    Ok(output)
}

/// A long failure output (a compiler's, through uv) cut to what says why: its first lines,
/// the first lines that name an error, and its last lines (uv's hints). The build log keeps
/// all of it.
fn summarize(stderr: &str) -> String {
    const HEAD: usize = 12;
    const ERRORS: usize = 10;
    const TAIL: usize = 6;
    let lines: Vec<&str> = stderr.lines().collect();
    if lines.len() <= HEAD + ERRORS + TAIL {
        return stderr.to_string();
    }
    let tail_start = lines.len() - TAIL;
    let errors: Vec<usize> = (HEAD..tail_start)
        .filter(|&i| {
            let lower = lines[i].to_lowercase();
            lower.contains("error") || lower.contains("fatal")
        })
        .take(ERRORS)
        .collect();
    let mut out: Vec<String> = lines[..HEAD].iter().map(|l| (*l).to_string()).collect();
    let mut previous = HEAD - 1;
    for index in errors.into_iter().chain(tail_start..lines.len()) {
        if index > previous + 1 {
            out.push(format!(
                "      [... {} lines; all of them are in the build log ...]",
                index - previous - 1
            ));
        }
        out.push(lines[index].to_string());
        previous = index;
    }
    out.join("\n")
}

fn display(command: &Command) -> String {
    let mut parts = vec![command.get_program().to_string_lossy().into_owned()];
    parts.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

fn install(cache: &Cache, dir: &Path, log: &mut BuildLog) -> Result<(), BuildError> {
    let python = which("python3").ok_or_else(|| BuildError::UvInstall {
        version: UV_VERSION.to_string(),
        dir: dir.to_path_buf(),
        output: "python3 is not on PATH".to_string(),
    })?;
    let staging = tempfile::Builder::new()
        .prefix(".uv-install-")
        .tempdir_in(cache.tools_dir())
        .map_err(|e| BuildError::io(&cache.tools_dir(), e))?;
    let mut command = Command::new(python);
    command
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--target",
        ])
        .arg(staging.path())
        .arg(format!("uv=={UV_VERSION}"));
    run(command, log).map_err(|error| BuildError::UvInstall {
        version: UV_VERSION.to_string(),
        dir: dir.to_path_buf(),
        output: error.to_string(),
    })?;
    let staged = staging.keep();
    fs_err::rename(&staged, dir).map_err(|e| BuildError::io(dir, e))?;
    Ok(())
}

fn version_of(path: &Path) -> Option<String> {
    let output = Command::new(path).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().nth(1).map(str::to_string)
}

/// The first executable named `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs_err::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::summarize;

    #[test]
    fn long_failures_keep_their_head_errors_and_hints() {
        let mut text = String::from("  x Failed to build `pkg==1.0`\n");
        for i in 0..1200 {
            text.push_str(&format!("gcc -c module{i}.c\n"));
        }
        text.push_str("module.c:1:10: fatal error: Python.h: No such file or directory\n");
        text.push_str("hint: This usually indicates a problem with the package");
        let short = summarize(&text);
        assert!(short.lines().count() < 40, "{short}");
        assert!(short.starts_with("  x Failed to build `pkg==1.0`"));
        assert!(short.contains("fatal error: Python.h"));
        assert!(short.contains("lines; all of them are in the build log"));
        assert!(short.ends_with("hint: This usually indicates a problem with the package"));
        assert_eq!(summarize("short\noutput"), "short\noutput");
    }
}
