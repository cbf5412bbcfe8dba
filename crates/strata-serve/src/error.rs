use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A worker could not import the entry script or its `init()` raised, at startup.
    #[error("The entry script failed to initialise:\n{traceback}")]
    InitFailed { traceback: String },
    #[error("The entry script `{}` does not exist", path.display())]
    EntryScriptNotFound { path: PathBuf },
    #[error("Invalid server configuration: {message}")]
    InvalidConfig { message: String },
    #[error("Failed to start `{}`", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Failed to listen on `{addr}`")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("Failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Failed to start the server runtime")]
    Runtime(#[source] std::io::Error),
}

impl ServeError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// Whether the user can fix it (their script, their configuration, a port in use).
    #[must_use]
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::InitFailed { .. }
            | Self::EntryScriptNotFound { .. }
            | Self::InvalidConfig { .. }
            | Self::Spawn { .. }
            | Self::Bind { .. }
            | Self::Io { .. } => true,
            Self::Runtime(_) => false,
        }
    }
}
