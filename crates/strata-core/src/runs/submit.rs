//! Queuing a run, as `strata run` and `Experiment.submit` ask for it: its environment resolved,
//! its target checked and its snapshot stored, in an embedded workspace or in the working copy
//! of a server workspace (there the environment is built here from the server's lock, and the
//! build and the queued run are recorded on the server). Executing it is [`super::supervise`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_build::{Cache, Reporter};
use strata_compute::Resources;
use strata_run::{Outcome, RunError, SnapshotLimits, plan_snapshot};
use strata_store::store::{BlobStorage, WorkspaceStore};
use strata_store::{RunRecord, StoreError, Workspace};

use super::{
    ReporterThread, Result, RunEnvironment, Supervision, check_target, create_run, publish_run,
    pull_run_environment, pull_target, record_resources, resolve_environment, supervise,
};
use crate::blocking::blocking;
use crate::{SharedWorkspace, build_shared};

/// A run to queue.
#[derive(Debug, Clone)]
pub struct Submission {
    pub experiment: String,
    pub environment: RunEnvironment,
    /// A compute target; without one `local`, or `container` for an environment whose
    /// definition enables Docker.
    pub target: Option<String>,
    /// What a scheduler target is asked for (refused for targets on this machine).
    pub resources: Resources,
    /// The directory snapshotted, absolute.
    pub source: PathBuf,
    /// The script's path in `source`.
    pub script: String,
    pub arguments: Vec<String>,
    pub limits: SnapshotLimits,
}

/// A queued run.
#[derive(Debug)]
pub struct Submitted {
    pub run: RunRecord,
    /// Why the build this machine made for a server workspace's run is not recorded on the
    /// server, when it is not (a reader's token, a server away): the run goes on with it.
    pub unrecorded_build: Option<StoreError>,
}

/// Queues `submission` in `workspace`, or, with `shared`, in the working copy `workspace` of
/// that server workspace. Everything that can be refused (the environment, the target and its
/// scheduler, the resources, the snapshot's limits, the script) is checked before anything is
/// stored; on a server workspace the snapshot is uploaded before the run is recorded there.
/// Drive it on a multi-threaded runtime: a Slurm target's client and a build block in it.
pub async fn submit(
    workspace: &mut Workspace,
    shared: Option<SharedWorkspace<'_>>,
    submission: &Submission,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<Submitted> {
    let (env_name, env_version) = match shared {
        Some(shared) => {
            pull_run_environment(shared.records, workspace, &submission.environment).await?
        }
        None => resolve_environment(workspace, &submission.environment, reporter)?,
    };
    let (target, kind) = match &submission.target {
        Some(name) => {
            if let Some(shared) = shared {
                pull_target(shared.records, workspace, name).await?;
            }
            let kind = blocking(|| check_target(workspace, name, &submission.resources))?;
            (name.clone(), kind)
        }
        None => {
            blocking(|| check_target(workspace, "local", &submission.resources))?;
            let record = workspace.get_environment(&env_name, Some(&env_version))?;
            let name = if record.environment.docker.enabled {
                "container"
            } else {
                "local"
            };
            (name.to_string(), name.to_string())
        }
    };
    let plan = plan_snapshot(&submission.source, submission.limits)?;
    let script = submission.script.trim_start_matches("./").to_string();
    if !plan.files.iter().any(|f| f == Path::new(&script)) {
        return Err(RunError::ScriptNotInSnapshot {
            script,
            source_dir: submission.source.clone(),
        }
        .into());
    }
    let unrecorded_build = match shared {
        Some(shared) => {
            build_shared(
                shared,
                workspace,
                &env_name,
                Some(&env_version),
                cache,
                reporter,
            )
            .await?
            .unrecorded
        }
        None => None,
    };
    let run = create_run(
        workspace,
        &submission.experiment,
        (env_name, env_version),
        &submission.source,
        &plan.files,
        (script, submission.arguments.clone()),
        &target,
    )?;
    if kind == "slurm" {
        record_resources(workspace, &run, &submission.resources)?;
    }
    if let Some(shared) = shared {
        publish_run(shared.records, shared.blobs, workspace, &run).await?;
    }
    Ok(Submitted {
        run,
        unrecorded_build,
    })
}

/// The server a run of a working copy reports to while it is supervised here.
pub struct Reporting {
    pub records: Arc<dyn WorkspaceStore>,
    pub blobs: Arc<dyn BlobStorage>,
    /// Told once when the server does not take a report (the run goes on, and reporting
    /// catches up).
    pub warn: Box<dyn Fn(&str) + Send>,
}

/// [`supervise`]s a queued run of a server workspace's working copy while a thread reports
/// its status, log, metrics and results to the server (and a cancel asked for there stops
/// it); returns once its end is reported too.
pub fn supervise_reporting(
    workspace: &mut Workspace,
    id: &str,
    supervision: &Supervision<'_>,
    reporting: Reporting,
) -> Result<Outcome> {
    let reporter = ReporterThread::start(
        reporting.records,
        reporting.blobs,
        workspace.root().to_path_buf(),
        id,
        reporting.warn,
    );
    let outcome = supervise(workspace, id, supervision);
    let reported = reporter.finish();
    let outcome = outcome?;
    reported?;
    Ok(outcome)
}
