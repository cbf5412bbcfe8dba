use std::io;
use std::path::PathBuf;

use strata_store::StoreError;

/// Errors from searching, SBOMs and audits.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("Invalid package spec `{spec}`: {reason}")]
    InvalidSpec { spec: String, reason: String },
    #[error("Environment `{name}:{version}` has no lock yet")]
    NotLocked {
        name: String,
        version: strata_spec::EnvironmentVersion,
    },
    #[error("Failed to read advisories from `{}`", path.display())]
    AdvisoryIo {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Advisory archive `{}` is unreadable", path.display())]
    AdvisoryArchive {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("Advisory record `{record}` is not valid OSV: {reason}")]
    InvalidAdvisory { record: String, reason: String },
    #[error("`{}` is neither an advisory directory nor a zip archive", path.display())]
    NotAnAdvisorySource { path: PathBuf },
    #[error("The advisory API `{url}` did not answer: {reason}")]
    Online { url: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InventoryError {
    /// Whether the user can fix this (bad input, a missing lock or advisory source).
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::Store(store) => store.is_user_error(),
            Self::InvalidSpec { .. }
            | Self::NotLocked { .. }
            | Self::AdvisoryIo { .. }
            | Self::AdvisoryArchive { .. }
            | Self::InvalidAdvisory { .. }
            | Self::NotAnAdvisorySource { .. }
            | Self::Online { .. } => true,
        }
    }
}
