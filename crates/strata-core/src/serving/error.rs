//! What deploying, serving and managing a service can fail with.

use std::net::IpAddr;
use std::path::PathBuf;

use strata_store::StoreError;

use crate::PrepareError;
use crate::images::ImagesError;

/// A service could not be deployed, served, reloaded or removed.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    /// The entry script is not a Python file.
    #[error("The entry script `{}` must be a `.py` file", .path.display())]
    EntryScriptNotPython { path: PathBuf },
    /// The entry script does not exist.
    #[error("The entry script `{}` does not exist", .path.display())]
    EntryScriptMissing { path: PathBuf },
    /// The entry script or source directory could not be copied into the service.
    #[error("Failed to copy `{}` into the service", .path.display())]
    CopyApp {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A service name must be usable as a directory and a URL segment.
    #[error(
        "Invalid service name `{name}`: use letters, digits, `-`, `.` and `_`, starting with a letter or digit"
    )]
    InvalidName { name: String },
    /// Nothing says which environment serves the models.
    #[error("Which environment should serve the model?")]
    NoEnvironment,
    /// Another process listens on the port.
    #[error("Port {port} on {host} is not available")]
    PortTaken {
        host: IpAddr,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// The service's server could not be started.
    #[error("Failed to start the service's server")]
    Start {
        #[source]
        source: std::io::Error,
    },
    /// The service's server ended before it answered; the end of its log says why.
    #[error("Deploying `{name}` failed: the server exited ({status}) before it was ready")]
    ExitedEarly {
        name: String,
        status: String,
        log_tail: String,
    },
    /// The service's server did not answer in time.
    #[error("`{name}` was not ready within {seconds} s")]
    NotReady { name: String, seconds: u64 },
    /// A recorded service address does not parse.
    #[error("Service `{name}` records the host `{host}`, which is not an IP address")]
    InvalidHost { name: String, host: String },
    /// A container service's container ended on its own.
    #[error("Service `{name}`: the container exited ({status})")]
    ContainerExited { name: String, status: String },
    /// A container holds its scoring code: there is nothing to reload in place.
    #[error(
        "Service `{name}` runs in a container image, which holds its scoring code; it cannot be reloaded in place"
    )]
    ReloadContainer { name: String },
    /// Only a running service can be reloaded.
    #[error("Service `{name}` is not running ({state})")]
    NotRunning { name: String, state: String },
    /// A new worker failed to start; the previous ones keep serving.
    #[error(
        "Reloading `{name}` stopped: a new worker failed to start; the previous workers keep serving"
    )]
    ReloadStopped { name: String, log_tail: String },
    /// The server neither finished nor refused the reload.
    #[error("Service `{name}` did not finish reloading")]
    ReloadUnfinished { name: String },
    /// The server could not be signalled.
    #[error("Failed to signal the server of `{name}`")]
    Signal {
        name: String,
        #[source]
        source: nix::Error,
    },
    /// A service file could not be read or written.
    #[error("Failed to use `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Images(#[from] ImagesError),
    #[error(transparent)]
    Serve(#[from] strata_serve::ServeError),
    #[error(transparent)]
    Run(#[from] strata_run::RunError),
}

impl ServingError {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::EntryScriptNotPython { .. } => "Pass the Python file that defines `init()` and `run()`, e.g. `--entry-script score.py`".to_string(),
            Self::EntryScriptMissing { .. } => {
                "Pass it relative to the current directory, or as an absolute path".to_string()
            }
            Self::NoEnvironment => "Pass `--env NAME[:VERSION]` (models registered from a run default to the run's environment)".to_string(),
            Self::PortTaken { .. } => "Pick another with `--port`, or delete the service that holds it (`strata service list`)".to_string(),
            Self::ExitedEarly { name, .. } => {
                format!("The log above is kept: `strata service logs {name}`")
            }
            Self::NotReady { name, .. } | Self::ReloadUnfinished { name } => {
                format!("See `strata service logs {name}`")
            }
            Self::ReloadContainer { .. } => "Deploy it again with `strata deploy --container`: only the changed app layer is rebuilt".to_string(),
            Self::NotRunning { .. } => "Deploy it again with `strata deploy`".to_string(),
            Self::ReloadStopped { name, .. } => format!(
                "Fix the script and reload again; the log: `strata service logs {name}`"
            ),
            Self::Images(error) => return error.hint(),
            _ => return None,
        })
    }

    /// Whether the user or the machine caused it, not a bug.
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::Store(error) | Self::Prepare(PrepareError::Store(error)) => error.is_user_error(),
            Self::Images(error) => error.is_user_error(),
            Self::Serve(error) => error.is_user_error(),
            Self::Run(error) => error.is_user_error(),
            _ => true,
        }
    }
}
