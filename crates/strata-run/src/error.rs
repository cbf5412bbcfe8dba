use std::path::PathBuf;

use strata_store::StoreError;

use crate::snapshot::{SnapshotLimits, human};

/// Why a run could not be prepared or executed (a script that fails is not an error: it is
/// a run with status `Failed`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("The source directory `{}` does not exist", path.display())]
    SourceDir { path: PathBuf },
    #[error("Failed to read `{path}`: {message}")]
    Walk { path: String, message: String },
    #[error(
        "The snapshot of `{}` is too large: {files} files, {} (limits: {} files, {}). Largest files: {}{}",
        source_dir.display(),
        human(*bytes),
        limits.max_files,
        human(limits.max_bytes),
        largest.join(", "),
        if largest_dirs.is_empty() { String::new() } else { format!("; most files in: {}", largest_dirs.join(", ")) }
    )]
    SnapshotTooLarge {
        source_dir: PathBuf,
        files: usize,
        bytes: u64,
        limits: SnapshotLimits,
        largest: Vec<String>,
        largest_dirs: Vec<String>,
    },
    #[error("The script `{script}` is not in the snapshot of `{}` (is it excluded by an ignore file, or outside the source directory?)", source_dir.display())]
    ScriptNotInSnapshot { script: String, source_dir: PathBuf },
    #[error("Failed to start `{}`", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RunError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    pub fn is_user_error(&self) -> bool {
        match self {
            Self::SourceDir { .. }
            | Self::SnapshotTooLarge { .. }
            | Self::ScriptNotInSnapshot { .. }
            | Self::Walk { .. }
            | Self::Spawn { .. } => true,
            Self::Store(error) => error.is_user_error(),
            // The machine's: a full disk, a permission.
            Self::Io { .. } => true,
        }
    }
}
