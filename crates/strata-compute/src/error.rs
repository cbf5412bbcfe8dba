use std::path::PathBuf;

/// Errors from compute targets.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error(
        "`{program}` was not found on PATH; install the Slurm client commands (Debian: `apt-get install slurm-client`) or run Strata on a login node of the cluster"
    )]
    ToolMissing { program: String },
    #[error(
        "The Slurm controller does not answer (`{command}`: {detail}); check that slurmctld runs and that SLURM_CONF names its configuration"
    )]
    Unreachable { command: String, detail: String },
    #[error(
        "Slurm has no partition `{partition}` (it has: {available}); pick one with `--partition`"
    )]
    NoPartition {
        partition: String,
        available: String,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("Invalid {what} `{value}`: {reason}")]
    InvalidResource {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("Invalid compute target settings: {0}")]
    Settings(String),
    #[error("Invalid pack `{}`: {reason}", path.display())]
    InvalidPack { path: PathBuf, reason: String },
    #[error("The environment's interpreter `{}` does not exist on this node; the pack uses a Python outside the environment (`{}`). Give the environment a conda `python` so the pack carries its interpreter, or install that Python on the nodes", python.display(), base.display())]
    NodeLacksInterpreter { python: PathBuf, base: PathBuf },
    #[error("Failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "The Slurm REST API at `{url}` does not answer; check the URL (`--rest-url`) and that slurmrestd runs and listens there"
    )]
    RestUnreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "No Slurm token for the REST API at `{url}`: {detail}; set `SLURM_JWT` (on a login node: `export $(scontrol token)`), or install the Slurm client so that Strata can run `scontrol token`"
    )]
    RestNoToken { url: String, detail: String },
    #[error(
        "The Slurm token in `SLURM_JWT` expired {seconds_ago} s ago; get a new one (on a login node: `export $(scontrol token lifespan=SECONDS)`)"
    )]
    RestTokenExpired { seconds_ago: u64 },
    #[error(
        "The Slurm REST API at `{url}` refused user `{user}` (HTTP 401 to `{request}`): it got no usable token; check `SLURM_JWT` (or what `scontrol token` gives) and the user name (`--rest-user`)"
    )]
    RestAuth {
        url: String,
        user: String,
        request: String,
    },
    #[error(
        "The Slurm REST API at `{url}` answered HTTP 500 to `{request}` ({detail}); slurmrestd of Slurm 22.05 answers so when the token is bad or expired for user `{user}` (check `SLURM_JWT`, or what `scontrol token` gives, and `--rest-user`), or when it cannot reach slurmctld"
    )]
    RestRefused {
        url: String,
        user: String,
        request: String,
        detail: String,
    },
    #[error("The Slurm REST API refused `{request}` (HTTP {status}): {detail}")]
    RestRequest {
        request: String,
        status: u16,
        detail: String,
    },
    #[error(
        "The Slurm REST API answered `{request}` with what Strata does not understand: {detail}"
    )]
    RestAnswer { request: String, detail: String },
    #[error("Failed to start the HTTP client for the Slurm REST API")]
    RestClient {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Store(#[from] strata_store::StoreError),
    #[error(transparent)]
    Run(#[from] strata_run::RunError),
}

impl ComputeError {
    /// What the user or the cluster caused (everything but a bug's own invariants).
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::Store(error) => error.is_user_error(),
            Self::Run(error) => error.is_user_error(),
            // No HTTP client here is this machine's or Strata's fault, not the cluster's.
            Self::RestClient { .. } => false,
            _ => true,
        }
    }

    /// Following a job cannot go on after this (polling again would fail the same way), unlike
    /// a controller that stops answering for a while.
    pub fn ends_watch(&self) -> bool {
        matches!(
            self,
            Self::ToolMissing { .. }
                | Self::RestNoToken { .. }
                | Self::RestTokenExpired { .. }
                | Self::RestAuth { .. }
        )
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
