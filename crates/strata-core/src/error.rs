//! What preparing an environment can fail with.

use std::path::PathBuf;

use strata_store::StoreError;

/// A lock or a build failed; it was recorded with its log.
#[derive(Debug, thiserror::Error)]
#[error("Failed to {verb} `{reference}`", verb = if *.locking { "lock" } else { "build" })]
pub struct BuildFailed {
    /// `NAME:VERSION`.
    pub reference: String,
    /// The lock failed, not the build of a locked version.
    pub locking: bool,
    /// Where the recorded log is, when it could be stored.
    pub log_path: Option<PathBuf>,
    #[source]
    pub source: strata_build::BuildError,
}

/// Locking or building a version failed.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The workspace could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The lock or the build itself failed.
    #[error(transparent)]
    Failed(#[from] Box<BuildFailed>),
}
