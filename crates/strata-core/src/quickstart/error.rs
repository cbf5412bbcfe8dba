//! Why the quickstart stopped: the step, and its cause.

use crate::runs::RunsError;
use crate::serving::ServingError;
use crate::{ModelError, PrepareError};

/// A step of the quickstart failed.
#[derive(Debug, thiserror::Error)]
#[error("Quickstart step {number} failed: {title}")]
pub struct QuickstartError {
    pub number: usize,
    pub title: String,
    #[source]
    pub source: Box<StepError>,
}

/// What went wrong in a step. Each cause keeps its own type as the source, so a caller finds
/// the hint of a failed build or store error in the chain.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("The workspace refused it")]
    Store(#[from] strata_store::StoreError),
    #[error("The definition is not valid")]
    Spec(#[from] strata_spec::SpecError),
    #[error("The environment could not be locked or built")]
    Build(#[source] Box<crate::BuildFailed>),
    #[error("The run could not be set up or supervised")]
    Runs(#[from] RunsError),
    #[error("The model could not be registered")]
    Model(#[from] ModelError),
    #[error("The service could not be deployed or stopped")]
    Serving(#[from] ServingError),
    #[error("Failed to write the project")]
    Write(#[source] std::io::Error),
    #[error("Failed to find a free port on 127.0.0.1")]
    Port(#[source] std::io::Error),
    #[error("Failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("Failed to reach the service")]
    Score(#[source] std::io::Error),
    #[error("`POST /score` answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("The run ended `{status}`: {error}\n{log}")]
    RunEnded {
        status: String,
        error: String,
        log: String,
    },
    #[error("{0}")]
    Unexpected(String),
}

// A preparation's causes are each their own step error: the failed build stays itself in the
// chain (with the reference its log is kept under), where a transparent wrapper would hide it.
impl From<PrepareError> for StepError {
    fn from(error: PrepareError) -> Self {
        match error {
            PrepareError::Store(error) => Self::Store(error),
            PrepareError::Failed(failed) => Self::Build(failed),
            PrepareError::Share(failed) => Self::Unexpected(failed.to_string()),
        }
    }
}
