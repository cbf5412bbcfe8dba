use std::path::{Path, PathBuf};

use crate::conda::CondaError;

/// Why resolving or building an environment failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("Failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Failed to install uv {version} into `{}`:\n{output}", dir.display())]
    UvInstall {
        version: String,
        dir: PathBuf,
        output: String,
    },
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error(
        "No Python interpreter matches `{request}`; interpreters found: {}; searched: {}{}",
        if found.is_empty() { "none".to_string() } else { found.join(", ") },
        searched.join(", "),
        download.as_deref().map(|d| format!("; {d}")).unwrap_or_default()
    )]
    NoInterpreter {
        request: String,
        found: Vec<String>,
        /// Every place looked in, in order.
        searched: Vec<String>,
        /// Why no Python was downloaded, when that was tried or is off.
        download: Option<String>,
    },
    #[error("The interpreter `{}` is not usable: {reason}", path.display())]
    Interpreter { path: PathBuf, reason: String },
    #[error("Conda packages {} need a conda channel, and the definition names none", packages.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "))]
    NoChannel { packages: Vec<String> },
    #[error("Environment variable `{variable}` named in `{entry}` is not set")]
    MissingVariable { variable: String, entry: String },
    #[error("Private wheel `{uri}` is not available: {reason}")]
    Wheel { uri: String, reason: String },
    #[error("The lock is unusable: {reason}")]
    InvalidLock { reason: String },
    #[error(
        "`{tool}` is needed for {purpose} and is not installed (Debian package `{package}`; `scripts/setup-containers` installs it)"
    )]
    ToolMissing {
        tool: String,
        purpose: String,
        package: String,
    },
    #[error("The image has no Python to build on (tried {}); use a base image with python3, or set `python.interpreterPath`", tried.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "))]
    NoImagePython { tried: Vec<String> },
    #[error(
        "The image's Python `{path}` is {found}, and the lock was resolved for Python {locked}; use a base image with Python {locked}, or pin `python` in the definition to the image's version"
    )]
    ImagePythonMismatch {
        path: String,
        found: String,
        locked: String,
    },
    #[error(transparent)]
    Conda(#[from] CondaError),
}

impl BuildError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether the cause is in the definition or the machine (its setup, its disk) rather than
    /// a bug.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Self::InvalidLock { .. })
    }
}
