//! The errors of the conda solve and install.

use std::path::PathBuf;

use rattler::install::InstallerError;
use rattler_conda_types::{ParseChannelError, ParseMatchSpecError, ParseSubdirError};
use rattler_repodata_gateway::GatewayError;
use rattler_solve::SolveError;

/// Why a conda solve or install failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CondaError {
    /// A channel is neither a name, a URL nor an absolute directory.
    #[error("Invalid conda channel `{channel}`")]
    InvalidChannel {
        channel: String,
        #[source]
        source: ParseChannelError,
    },

    /// The platform is not a conda subdir.
    #[error("Unknown conda platform `{platform}`")]
    InvalidPlatform {
        platform: String,
        #[source]
        source: ParseSubdirError,
    },

    /// A spec is not a valid conda match spec.
    #[error("Invalid conda spec `{spec}`")]
    InvalidSpec {
        spec: String,
        #[source]
        source: ParseMatchSpecError,
    },

    /// A channel's repodata could not be fetched or read (the channel is unreachable, does not
    /// exist, or serves something that is not repodata).
    #[error("Cannot load the repodata of conda channel `{url}`: {why}")]
    Channel {
        /// The channel's base URL.
        url: String,
        /// The cause in a few words (the host does not resolve, the connection was refused).
        why: String,
        #[source]
        source: Box<GatewayError>,
    },

    /// Loading repodata failed and the error names none of the channels.
    #[error("Cannot load the repodata of conda channels {channels}")]
    Repodata {
        /// The channels' base URLs, each in backticks.
        channels: String,
        #[source]
        source: Box<GatewayError>,
    },

    /// No set of packages satisfies the specs; `explanation` is the solver's.
    #[error("Cannot satisfy the conda specs {specs}:\n{explanation}")]
    Unsatisfiable {
        /// The requested specs, each in backticks.
        specs: String,
        /// The solver's explanation of the conflict.
        explanation: String,
    },

    /// The solver failed for another reason.
    #[error("The conda solver failed")]
    Solver {
        #[source]
        source: Box<SolveError>,
    },

    /// A locked package lacks what the installer needs, or has malformed fields.
    #[error("Invalid locked conda package `{package}`: {reason}")]
    InvalidLockedPackage { package: String, reason: String },

    /// A package could not be downloaded, extracted or verified (e.g. its sha256 differs from
    /// the lock).
    #[error("Cannot download or verify conda package `{package}` from `{url}`")]
    Download {
        /// The package's file name.
        package: String,
        url: String,
        #[source]
        source: Box<InstallerError>,
    },

    /// Linking, unlinking or recording packages in the prefix failed.
    #[error("Cannot install conda packages into `{prefix}`")]
    Install {
        prefix: PathBuf,
        #[source]
        source: Box<InstallerError>,
    },

    /// The async runtime that drives rattler could not be started.
    #[error("Cannot start the async runtime for conda")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
}
