//! Canceling a run and waiting for its end.

use std::time::{Duration, Instant};

use strata_store::store::{RunUpdate, WorkspaceStore};
use strata_store::{RunRecord, StoreError, Workspace};

use super::{Result, RunsError, reap_orphans};

/// What asking a run to stop came to.
#[derive(Debug, Clone)]
pub enum Cancellation {
    /// It had ended before it was asked.
    AlreadyEnded(RunRecord),
    /// Its supervisor stopped it (or it ended meanwhile).
    Ended(RunRecord),
    /// A server workspace's run: the machine running it cancels it.
    Requested(RunRecord),
}

/// Asks a run of this workspace to stop and waits until its supervisor has ended it (the
/// script gets SIGTERM, then SIGKILL after its grace period); a supervisor that died is settled
/// meanwhile.
pub fn cancel_run(workspace: &mut Workspace, id: &str, timeout: Duration) -> Result<Cancellation> {
    let run = workspace.get_run(id)?;
    if run.is_finished() {
        return Ok(Cancellation::AlreadyEnded(run));
    }
    workspace.request_cancel(id)?;
    let deadline = Instant::now() + timeout;
    loop {
        reap_orphans(workspace);
        let run = workspace.get_run(id)?;
        if run.is_finished() {
            return Ok(Cancellation::Ended(run));
        }
        if Instant::now() >= deadline {
            return Err(RunsError::CancelTimedOut {
                id: id.to_string(),
                seconds: timeout.as_secs(),
                status: run.status,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asks a run of a server workspace to stop: the machine running it sees the request and
/// cancels it.
pub async fn request_cancel(
    records: &dyn WorkspaceStore,
    id: &str,
) -> Result<Cancellation, StoreError> {
    let run = records.get_run(id).await?;
    if run.is_finished() {
        return Ok(Cancellation::AlreadyEnded(run));
    }
    let run = records.update_run(id, &RunUpdate::CancelRequested).await?;
    Ok(if run.is_finished() {
        Cancellation::Ended(run)
    } else {
        Cancellation::Requested(run)
    })
}

/// Waits until a run of this workspace has ended, settling a supervisor that died.
pub fn wait_for_run(workspace: &mut Workspace, id: &str) -> Result<RunRecord, StoreError> {
    loop {
        reap_orphans(workspace);
        let run = workspace.get_run(id)?;
        if run.is_finished() {
            return Ok(run);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until a run of any store has ended, asking every `poll`.
pub async fn wait_for_run_in(
    records: &dyn WorkspaceStore,
    id: &str,
    poll: Duration,
) -> Result<RunRecord, StoreError> {
    loop {
        let run = records.get_run(id).await?;
        if run.is_finished() {
            return Ok(run);
        }
        tokio::time::sleep(poll).await;
    }
}
