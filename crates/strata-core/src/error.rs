//! What preparing an environment can fail with.

use std::path::PathBuf;

use strata_store::{BuildRecord, StoreError};

/// A lock or a build failed; it was recorded with its log.
#[derive(Debug, thiserror::Error)]
#[error(
    "Failed to {verb} `{reference}`{unshared}",
    verb = if *.locking { "lock" } else { "build" },
    unshared = unshared_note(.unshared.as_ref())
)]
pub struct BuildFailed {
    /// `NAME:VERSION`.
    pub reference: String,
    /// The lock failed, not the build of a locked version.
    pub locking: bool,
    /// Where the recorded log is, when it could be stored.
    pub log_path: Option<PathBuf>,
    /// The failure as the workspace recorded it, when it could be recorded.
    pub record: Option<BuildRecord>,
    /// Why the failure is not recorded on the team server the workspace is a working copy
    /// of, when it should have been and is not (teammates do not see it).
    pub unshared: Option<StoreError>,
    #[source]
    pub source: strata_build::BuildError,
}

fn unshared_note(unshared: Option<&StoreError>) -> String {
    unshared.map_or_else(String::new, |error| {
        format!(" (the failure is not recorded on the team server: {error})")
    })
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
    /// The team server a working copy belongs to refused or could not take what was made here.
    #[error(transparent)]
    Share(#[from] Box<ShareFailed>),
}

/// The team server a working copy belongs to refused or could not take what was made here
/// (a lock, a new version).
#[derive(Debug, thiserror::Error)]
#[error("Failed to store {what} on `{location}`")]
pub struct ShareFailed {
    /// What was to be stored, e.g. "the lock of `name:1`".
    pub what: String,
    /// The server workspace.
    pub location: String,
    #[source]
    pub source: StoreError,
}
