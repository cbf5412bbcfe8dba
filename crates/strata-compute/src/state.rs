//! Slurm's job states as run statuses.

use strata_store::{CANCELED, COMPLETED, FAILED, QUEUED, RUNNING};

/// Where a job is, as a run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for resources (or held, or requeued).
    Queued,
    /// Started (or finishing: `COMPLETING`).
    Running,
    Completed,
    /// Ended badly; the reason names Slurm's state and what it means.
    Failed {
        reason: String,
    },
    Canceled,
}

impl JobState {
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed { .. } | Self::Canceled)
    }

    /// The run status this state maps to.
    pub fn run_status(&self) -> &'static str {
        match self {
            Self::Queued => QUEUED,
            Self::Running => RUNNING,
            Self::Completed => COMPLETED,
            Self::Failed { .. } => FAILED,
            Self::Canceled => CANCELED,
        }
    }
}

/// Maps a Slurm state (`scontrol`'s `JobState`, `squeue %T`, or `sacct`'s `State`, which may
/// read `CANCELLED by 0`) and its reason to a run's view of it. Unknown states count as
/// running, so a new Slurm state never ends a run early.
pub fn map_state(slurm: &str, reason: Option<&str>, exit_code: Option<(i32, i32)>) -> JobState {
    let word = slurm
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches('+')
        .to_ascii_uppercase();
    let detail = reason
        .filter(|r| !r.is_empty() && *r != "None")
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let failed = |what: &str| JobState::Failed {
        reason: format!("Slurm: {word}: {what}{detail}"),
    };
    match word.as_str() {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_FED" | "REQUEUE_HOLD"
        | "RESV_DEL_HOLD" => JobState::Queued,
        "COMPLETED" => JobState::Completed,
        "CANCELLED" => JobState::Canceled,
        "FAILED" => match exit_code {
            Some((code, 0)) => failed(&format!("the script exited with code {code}")),
            Some((_, signal)) => failed(&format!("the script was killed by signal {signal}")),
            None => failed("the job failed"),
        },
        "TIMEOUT" => failed("the job reached its time limit and was killed"),
        "NODE_FAIL" => failed("the node running the job failed"),
        "OUT_OF_MEMORY" => failed("the job used more memory than it asked for (`--memory`)"),
        "BOOT_FAIL" => failed("the node could not boot for the job"),
        "DEADLINE" => failed("the job reached its deadline"),
        "PREEMPTED" => failed("the job was preempted"),
        "REVOKED" | "SPECIAL_EXIT" => failed("the job ended"),
        _ => JobState::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_states_map_to_run_statuses() {
        assert_eq!(
            map_state("PENDING", Some("Resources"), None),
            JobState::Queued
        );
        assert_eq!(map_state("RUNNING", None, None), JobState::Running);
        assert_eq!(map_state("COMPLETING", None, None), JobState::Running);
        assert_eq!(
            map_state("COMPLETED", None, Some((0, 0))),
            JobState::Completed
        );
        assert_eq!(map_state("CANCELLED by 0", None, None), JobState::Canceled);
        assert_eq!(
            map_state("FAILED", Some("NonZeroExitCode"), Some((3, 0))),
            JobState::Failed {
                reason: "Slurm: FAILED: the script exited with code 3 (NonZeroExitCode)"
                    .to_string()
            }
        );
        for (state, words) in [
            ("TIMEOUT", "time limit"),
            ("NODE_FAIL", "node"),
            ("OUT_OF_MEMORY", "memory"),
        ] {
            let JobState::Failed { reason } = map_state(state, None, None) else {
                panic!("{state} should fail");
            };
            assert!(reason.contains(state) && reason.contains(words), "{reason}");
        }
        assert_eq!(map_state("TIMEOUT", None, None).run_status(), FAILED);
        assert!(!map_state("SUSPENDED", None, None).is_finished());
    }
}
