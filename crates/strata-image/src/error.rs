use std::io;
use std::path::{Path, PathBuf};

/// Errors from writing, reading and moving OCI images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("Failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Invalid digest `{digest}` (expected `sha256:` and 64 lowercase hex digits)")]
    InvalidDigest { digest: String },
    #[error("Failed to read blob `{digest}`")]
    BlobRead {
        digest: String,
        #[source]
        source: io::Error,
    },
    #[error("Blob `{digest}` is corrupt: its content hashes to `{actual}`")]
    CorruptBlob { digest: String, actual: String },
    #[error("Invalid JSON in {what}")]
    InvalidJson {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("Invalid image: {reason}")]
    InvalidImage { reason: String },
    #[error("No image `{reference}` in `{}`", location.display())]
    NotFound {
        reference: String,
        location: PathBuf,
    },
    #[error("`{}` holds several images ({}); name the one to use", location.display(), candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "))]
    AmbiguousImage {
        location: PathBuf,
        candidates: Vec<String>,
    },
    #[error("The image index `{digest}` has no `linux/amd64` image")]
    NoMatchingPlatform { digest: String },
    #[error("`{}` is neither an OCI archive nor a docker archive (no `index.json` or `manifest.json`)", path.display())]
    UnknownArchive { path: PathBuf },
    #[error("`{what}` is compressed with {compression}, which is not supported (only gzip is)")]
    UnsupportedCompression { what: String, compression: String },
    #[error("Refusing layer entry `{path}`: {reason}")]
    UnsafePath { path: String, reason: String },
    #[error("Invalid path `{path}` inside the image: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("`{}` has a name that is not UTF-8", path.display())]
    NonUtf8Path { path: PathBuf },
    #[error("Cannot unpack into `{}`: it is not empty", path.display())]
    DestinationNotEmpty { path: PathBuf },
}

impl ImageError {
    /// Whether the user's input or the machine caused this (an archive that is not an image,
    /// a refused layer entry, a missing file, a full disk), rather than a bug in Strata: every
    /// variant is, and a new one must say so here.
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::Io { .. }
            | Self::InvalidDigest { .. }
            | Self::BlobRead { .. }
            | Self::CorruptBlob { .. }
            | Self::InvalidJson { .. }
            | Self::InvalidImage { .. }
            | Self::NotFound { .. }
            | Self::AmbiguousImage { .. }
            | Self::NoMatchingPlatform { .. }
            | Self::UnknownArchive { .. }
            | Self::UnsupportedCompression { .. }
            | Self::UnsafePath { .. }
            | Self::InvalidPath { .. }
            | Self::NonUtf8Path { .. }
            | Self::DestinationNotEmpty { .. } => true,
        }
    }

    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Self {
        let what = what.into();
        move |source| Self::InvalidJson { what, source }
    }
}
