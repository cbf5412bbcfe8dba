use std::io;
use std::path::PathBuf;

use strata_spec::{EnvironmentVersion, SpecError};

/// Errors from the workspace.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("No Strata workspace found in `{}` or any parent directory", start.display())]
    NoWorkspace { start: PathBuf },
    #[error("`{}` is not a Strata workspace (no `strata.db`)", path.display())]
    NotAWorkspace { path: PathBuf },
    #[error("A workspace already exists at `{}`", path.display())]
    WorkspaceExists { path: PathBuf },
    #[error("The workspace at `{}` was written by a newer Strata (schema {found}, this build knows up to {supported})", path.display())]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("Environment `{name}` has no version {version} (the latest is {latest})")]
    VersionNotFound {
        name: String,
        version: EnvironmentVersion,
        latest: EnvironmentVersion,
    },
    #[error(
        "Environment `{name}:{version}` already exists with different content (registered spec hash `{existing}`, this definition `{new}`); versions are immutable"
    )]
    VersionConflict {
        name: String,
        version: EnvironmentVersion,
        existing: String,
        new: String,
    },
    #[error(
        "`{name}` is a curated environment and cannot be changed; copy it first (`strata env copy {name} NEW_NAME`)"
    )]
    Curated { name: String },
    #[error("The definition contains a credential in {}; Strata never stores credentials", found.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "))]
    Credentials { found: Vec<String> },
    #[error("Refusing to write `{}`: {reason}", path.display())]
    UnsafeDestination { path: PathBuf, reason: String },
    #[error("Invalid wheel `{}`: {reason}", path.display())]
    InvalidWheel { path: PathBuf, reason: String },
    #[error("Invalid model name `{name}`: {reason}")]
    InvalidModelName { name: String, reason: String },
    #[error(
        "Invalid label `{label}`: use letters, digits, `-`, `_` and `.`, starting with a letter or digit"
    )]
    InvalidLabel { label: String },
    #[error("Unknown reference `{reference}`: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("Blob `{digest}` is corrupt: its content hashes to `{actual}`")]
    CorruptBlob { digest: String, actual: String },
    #[error("Bytes {start}..{end} are outside blob `{digest}`, which is {size} bytes long")]
    UnsatisfiableRange {
        digest: String,
        start: u64,
        end: u64,
        size: u64,
    },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("Failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Workspace database error while {context}")]
    Database {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("No space left on device for the workspace at `{}`", path.display())]
    DiskFull {
        path: PathBuf,
        #[source]
        source: Box<StoreError>,
    },
    #[error("Stored record `{what}` is unreadable")]
    CorruptRecord {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("Invalid page cursor `{cursor}`: pass back the `nextCursor` of the previous page")]
    InvalidCursor { cursor: String },
    #[error("{what} points at blob `{digest}`, which is not stored; upload it first")]
    MissingBlob { what: String, digest: String },
    #[error(
        "The log of run `{run}` is {length} bytes long; an append at offset {offset} would leave a gap or overwrite"
    )]
    LogOffset {
        run: String,
        offset: u64,
        length: u64,
    },
    #[error("{what} was changed by someone else since it was read (expected `{expected}`)")]
    PreconditionFailed { what: String, expected: String },
    #[error(
        "`{name}:{version}` is locked differently here (`{here}`) and in the shared workspace (`{there}`); another client locked it at the same time — run again to use the shared lock"
    )]
    LockDiffers {
        name: String,
        version: EnvironmentVersion,
        here: String,
        there: String,
    },
    #[error("Not allowed: {reason}")]
    Forbidden { reason: String },
    #[error("Not authenticated: {reason}")]
    Unauthenticated { reason: String },
    #[error("{what} is unavailable: {message}")]
    Unavailable { what: String, message: String },
    #[error("{what} failed: {message}")]
    Backend { what: String, message: String },
    /// A request a server refused as invalid, with its message (the same one a local
    /// workspace gives for the same input).
    #[error("{message}")]
    Rejected { message: String },
}

impl StoreError {
    /// Whether the user or the machine caused this (bad input, missing things, a full disk, a
    /// locked or unreadable database) rather than a bug in Strata.
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::NoWorkspace { .. }
            | Self::NotAWorkspace { .. }
            | Self::WorkspaceExists { .. }
            | Self::SchemaTooNew { .. }
            | Self::NotFound { .. }
            | Self::VersionNotFound { .. }
            | Self::VersionConflict { .. }
            | Self::Curated { .. }
            | Self::InvalidWheel { .. }
            | Self::UnsafeDestination { .. }
            | Self::InvalidLabel { .. }
            | Self::Credentials { .. }
            | Self::InvalidReference { .. }
            | Self::InvalidModelName { .. }
            | Self::DiskFull { .. }
            | Self::InvalidCursor { .. }
            | Self::MissingBlob { .. }
            | Self::LogOffset { .. }
            | Self::PreconditionFailed { .. }
            | Self::UnsatisfiableRange { .. }
            | Self::LockDiffers { .. }
            | Self::Forbidden { .. }
            | Self::Unauthenticated { .. }
            | Self::Unavailable { .. }
            | Self::Rejected { .. }
            | Self::Spec(_) => true,
            Self::Backend { .. } => false,
            // The machine's failures: a full disk, a permission, a file changed underneath.
            Self::Io { .. } | Self::CorruptBlob { .. } => true,
            Self::Database { source, .. } => is_machine_failure(source),
            Self::CorruptRecord { .. } => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    pub(crate) fn db(context: &str) -> impl FnOnce(rusqlite::Error) -> Self + '_ {
        move |source| Self::Database {
            context: context.to_string(),
            source,
        }
    }
}

/// SQLite errors that the machine or the file caused (busy, locked, read-only, full disk, I/O,
/// corruption, not a database), as opposed to a query Strata got wrong.
fn is_machine_failure(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::OutOfMemory
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::NotADatabase
                | ErrorCode::PermissionDenied
        )
    )
}
