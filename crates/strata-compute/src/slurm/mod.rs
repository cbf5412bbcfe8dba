//! Slurm, through one of two engines behind [`SlurmEngine`]: its commands (`sbatch`,
//! `scontrol`, `sacct`, `scancel`, on a login node) or its REST API (`slurmrestd`, when the
//! target names one). Submitting and following a run see only the trait.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::ComputeError;
use crate::resources::Resources;
use crate::state::{JobState, map_state};

pub use commands::SlurmCommands;
pub use rest::{DEFAULT_API_VERSION, RestSettings, SUPPORTED_API_VERSIONS, SlurmRest};

mod commands;
mod rest;

/// A Slurm target's settings, as stored in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlurmSettings {
    /// `--partition`; the cluster's default partition when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// A command the job step runs under (e.g. `["srun"]`, `["unshare", "--net"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launcher: Vec<String>,
    /// The cache on the nodes that packs are materialized into (default on the node:
    /// `$STRATA_NODE_CACHE`, else `$TMPDIR/strata-node-cache`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_cache: Option<PathBuf>,
    /// The nodes see this machine's build cache (`STRATA_CACHE` on a shared filesystem):
    /// jobs use the built prefix directly, without a pack.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_cache: bool,
    /// The `strata` binary as the nodes see it (default: this one's path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strata_bin: Option<PathBuf>,
    /// Talk to the cluster through slurmrestd instead of the commands. Never holds the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest: Option<RestSettings>,
}

/// What Slurm says about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// Slurm's own state name.
    pub state: String,
    pub reason: Option<String>,
    pub partition: Option<String>,
    pub node: Option<String>,
    /// `(code, signal)` from `ExitCode=3:0`.
    pub exit_code: Option<(i32, i32)>,
}

impl JobInfo {
    pub fn job_state(&self) -> JobState {
        map_state(&self.state, self.reason.as_deref(), self.exit_code)
    }
}

/// A batch job to submit: the same job for either engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchJob {
    pub name: String,
    /// The batch script: `sbatch` reads it from `script_path`, slurmrestd gets the text.
    pub script: String,
    pub script_path: PathBuf,
    /// Where the job runs (`--chdir`).
    pub workdir: PathBuf,
    /// Where the job's stdout and stderr go (`--output`).
    pub output: PathBuf,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub resources: Resources,
}

/// How Strata talks to a Slurm cluster. Submitting and following a run (`submit`, `watch`)
/// use only this, so both engines give the same run lifecycle.
pub trait SlurmEngine: std::fmt::Debug {
    /// Checks the controller answers and, when named, that the partition exists; returns the
    /// cluster's partitions.
    fn check(&self, partition: Option<&str>) -> Result<Vec<String>, ComputeError>;
    /// Submits a batch job; returns its id.
    fn submit(&self, job: &BatchJob) -> Result<String, ComputeError>;
    /// Where the job is; `None` when Slurm no longer knows it.
    fn query(&self, job_id: &str) -> Result<Option<JobInfo>, ComputeError>;
    /// Ends the job normally (Slurm's `CANCELLED`).
    fn cancel(&self, job_id: &str) -> Result<(), ComputeError>;
    /// How this engine cancels, as the run's record says it: `scancel`, `slurmrestd`.
    fn cancel_label(&self) -> &'static str;
}

/// The engine a target's settings name: slurmrestd when they have a REST URL (its token is
/// found now, so a missing one is an error before anything is submitted), else the commands.
pub fn connect(settings: &SlurmSettings) -> Result<Box<dyn SlurmEngine>, ComputeError> {
    match &settings.rest {
        Some(rest) => Ok(Box::new(SlurmRest::connect(rest)?)),
        None => Ok(Box::new(SlurmCommands::default())),
    }
}

/// `3:0` → `(3, 0)`.
pub fn parse_exit_code(text: &str) -> Option<(i32, i32)> {
    let (code, signal) = text.trim().split_once(':')?;
    Some((code.parse().ok()?, signal.parse().ok()?))
}

/// Slurm's ways of saying "nothing": empty, `(null)`, `None`.
fn none_if_null(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty() && value != "(null)" && value != "None").then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_refuse_unknown_fields() {
        assert!(
            serde_json::from_value::<SlurmSettings>(serde_json::json!({"partiton": "x"})).is_err()
        );
        let settings: SlurmSettings =
            serde_json::from_value(serde_json::json!({"partition": "gpu", "account": "ml"}))
                .unwrap();
        assert_eq!(settings.account.as_deref(), Some("ml"));
        assert_eq!(settings.rest, None);
        assert_eq!(parse_exit_code("3:0"), Some((3, 0)));
        assert_eq!(parse_exit_code("x"), None);
    }

    #[test]
    fn rest_settings_round_trip_without_a_token() {
        let settings = SlurmSettings {
            rest: Some(
                RestSettings::new("http://127.0.0.1:6820", None, Some("alice".to_string()))
                    .unwrap(),
            ),
            ..SlurmSettings::default()
        };
        let value = serde_json::to_value(&settings).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"rest": {"url": "http://127.0.0.1:6820", "apiVersion": "v0.0.38", "user": "alice"}})
        );
        assert_eq!(
            serde_json::from_value::<SlurmSettings>(value).unwrap(),
            settings
        );
        assert!(
            serde_json::from_value::<SlurmSettings>(
                serde_json::json!({"rest": {"url": "http://h:6820", "token": "secret"}})
            )
            .is_err(),
            "a token has no place in the record"
        );
    }
}
