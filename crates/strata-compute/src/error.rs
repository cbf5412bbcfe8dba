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
            _ => true,
        }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
