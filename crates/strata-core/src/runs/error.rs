//! What starting, supervising and reporting a run can fail with.

use strata_store::StoreError;

use crate::PrepareError;
use crate::images::ImagesError;

/// A run could not be set up, prepared, supervised or reported.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// A run on a server workspace names its environment by reference.
    #[error("A run on a server workspace uses a registered environment")]
    NotRegistered,
    /// Scheduler resources asked of a target that runs on this machine.
    #[error(
        "`--cpus`, `--memory`, `--gpus` and `--time` are for scheduler targets; `{target}` runs on this machine"
    )]
    ResourcesOnLocalTarget { target: String },
    /// A Slurm target's stored settings do not parse.
    #[error("The settings of compute target `{target}` are invalid")]
    TargetSettings {
        target: String,
        #[source]
        source: serde_json::Error,
    },
    /// A run ended without printing anything.
    #[error("Run `{id}` ended ({status}) without output{}", error.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    NoOutput {
        id: String,
        status: String,
        error: Option<String>,
    },
    /// A run has printed nothing yet.
    #[error("Run `{id}` has no output yet ({status})")]
    NoOutputYet { id: String, status: String },
    /// A canceled run's supervisor did not stop it in time.
    #[error("Run `{id}` did not stop within {seconds} s ({status})")]
    CancelTimedOut {
        id: String,
        seconds: u64,
        status: String,
    },
    /// The thread reporting a run to the server stopped before the run's end was reported.
    #[error("The thread reporting run `{id}` to the server panicked")]
    ReporterPanicked { id: String },
    /// The run ended here, but the server never took its results.
    #[error("Run `{id}` ended, but its results could not be reported to the server")]
    Unreported {
        id: String,
        #[source]
        source: Box<StoreError>,
    },
    /// The async runtime for a server's store could not start.
    #[error("Failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The program a detached supervisor or a job step runs could not be found.
    #[error("Failed to find the running program")]
    CurrentExe(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Images(#[from] ImagesError),
    #[error(transparent)]
    Run(#[from] strata_run::RunError),
    #[error(transparent)]
    Compute(#[from] strata_compute::ComputeError),
    #[error(transparent)]
    Spec(#[from] strata_spec::SpecError),
}

impl RunsError {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NotRegistered => "Register it first (`strata env register ...`), then `strata run --env NAME[:VERSION] ...`".to_string(),
            Self::ResourcesOnLocalTarget { .. } => {
                "Leave them out, or pick a Slurm target (`strata compute list`)".to_string()
            }
            Self::TargetSettings { target, .. } => format!(
                "Attach it again: `strata compute detach {target}` then `strata compute attach {target} --slurm ...`"
            ),
            Self::NoOutputYet { id, .. } => format!("Follow it with `strata runs logs {id} --follow`"),
            Self::Images(error) => return error.hint(),
            _ => return None,
        })
    }

    /// Whether the user or the machine caused it, not a bug.
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::Store(error) | Self::Prepare(PrepareError::Store(error)) => error.is_user_error(),
            Self::Unreported { source, .. } => source.is_user_error(),
            Self::Images(error) => error.is_user_error(),
            Self::Run(error) => error.is_user_error(),
            Self::Compute(error) => error.is_user_error(),
            Self::ReporterPanicked { .. } => false,
            _ => true,
        }
    }
}
