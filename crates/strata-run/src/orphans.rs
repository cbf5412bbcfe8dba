//! Runs whose supervising process died: marked `Failed` the next time the workspace is opened,
//! with what they left stored.

use std::path::Path;

use nix::sys::signal::Signal;
use strata_store::{FAILED, RunRecord, Workspace};

use crate::execute::{Outcome, finish};
use crate::process::{group_runs_in, is_alive, signal_group};

/// Checks the supervisors of unfinished runs; returns the ids of runs it marked failed.
pub fn reap_orphans(workspace: &mut Workspace) -> Vec<String> {
    reap_orphans_with(workspace, &mut |_, _| None)
}

/// [`reap_orphans`], with `stop` called for each orphan before it is marked failed: it stops
/// what the run left running elsewhere (a scheduler's job) and says what it did, which the
/// run's error then tells.
pub fn reap_orphans_with(
    workspace: &mut Workspace,
    stop: &mut dyn FnMut(&Workspace, &RunRecord) -> Option<String>,
) -> Vec<String> {
    let Ok(active) = workspace.active_runs() else {
        return Vec::new();
    };
    let mut reaped = Vec::new();
    for run in active {
        let Some(pid) = run.supervisor_pid.and_then(|p| u32::try_from(p).ok()) else {
            continue;
        };
        if is_alive(pid, run.supervisor_start.as_deref()) {
            continue;
        }
        // The script may outlive its supervisor: stop it, it is no longer recorded.
        if let Some(group) = run.process_group.and_then(|g| u32::try_from(g).ok())
            && group_runs_in(group, Path::new(&run.run_dir))
        {
            signal_group(group, Signal::SIGKILL);
        }
        let stopped = stop(workspace, &run)
            .map(|what| format!("; {what}"))
            .unwrap_or_default();
        let outcome = Outcome {
            status: FAILED,
            exit_code: None,
            error: Some(format!(
                "The process supervising the run (pid {pid}) ended before the run did; it was marked failed when the workspace was next opened{stopped}"
            )),
        };
        if finish(workspace, &run, &outcome).is_ok() {
            reaped.push(run.id);
        }
    }
    reaped
}
