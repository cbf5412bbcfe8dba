//! Supervising a queued run: the environment prepared (built here, or its image loaded into
//! podman), the run directory laid out, the script executed under supervision.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use strata_build::{Lease, Reporter};
use strata_compute::Progress;
use strata_run::{
    ContainerLaunch, Execution, Outcome, OutputSink, execute, prepare_run_dir, start_time,
};
use strata_store::{CANCELED, FAILED, RunRecord, Workspace};

use super::{Result, slurm};
use crate::images::{self, BaseOverride, Tool};
use crate::{activation_env, ensure_built};

/// How a run is supervised: where its output goes, how long a canceled script may take to
/// stop, and where build steps and a scheduler's progress are shown.
pub struct Supervision<'a> {
    pub sink: Arc<dyn OutputSink>,
    pub grace: Duration,
    pub reporter: &'a dyn Reporter,
    pub progress: &'a dyn Progress,
}

/// Prepares and executes a queued run to its end (`strata run`, or its detached supervisor);
/// a run whose preparation fails is recorded failed with the reason.
pub fn supervise(
    workspace: &mut Workspace,
    id: &str,
    supervision: &Supervision<'_>,
) -> Result<Outcome> {
    let pid = std::process::id();
    workspace.run_preparing(id, pid, &start_time(pid).unwrap_or_default())?;
    let run = workspace.get_run(id)?;
    if !matches!(run.target.as_str(), "local" | "container") {
        return slurm::supervise_slurm(workspace, &run, supervision);
    }
    let prepared = if run.target == "container" {
        prepare_container(workspace, &run, supervision.reporter)
    } else {
        prepare_local(workspace, &run, supervision.reporter)
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            workspace.run_finished(id, FAILED, None, Some(&error_chain(&error)), None, None)?;
            return Err(error);
        }
    };
    workspace.run_prepared(id, &prepared.lock_hash)?;
    let run = workspace.get_run(id)?;
    prepare_run_dir(workspace, &run)?;
    if run.cancel_requested {
        let outcome = Outcome {
            status: CANCELED,
            exit_code: None,
            error: Some("Canceled before it started".to_string()),
        };
        strata_run::finish(workspace, &run, &outcome)?;
        return Ok(outcome);
    }
    Ok(execute(
        workspace,
        &Execution {
            run: &run,
            python: &prepared.python,
            container: prepared.container.as_ref(),
            environment: &prepared.environment,
            sink: supervision.sink.clone(),
            grace: supervision.grace,
        },
    )?)
}

/// An error and its causes on one line, as a run records why it failed.
pub(super) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        // Transparent wrappers repeat their cause's message.
        if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// What a run needs to start: the interpreter, its variables, and the container if any.
struct Prepared {
    python: PathBuf,
    environment: BTreeMap<String, String>,
    lock_hash: String,
    container: Option<ContainerLaunch>,
    /// Keeps `cache gc` off the prefix until the run has finished.
    _lease: Option<Arc<Lease>>,
}

fn prepare_local(
    workspace: &mut Workspace,
    run: &RunRecord,
    reporter: &dyn Reporter,
) -> Result<Prepared> {
    let built = ensure_built(workspace, &run.env_name, Some(&run.env_version), reporter)?;
    Ok(Prepared {
        python: built.prefix.python.clone(),
        environment: activation_env(&built),
        lock_hash: built.lock.lock_hash.clone(),
        container: None,
        _lease: built.prefix.lease.clone(),
    })
}

/// The environment's image (built when needed), loaded into podman.
fn prepare_container(
    workspace: &mut Workspace,
    run: &RunRecord,
    reporter: &dyn Reporter,
) -> Result<Prepared> {
    let podman = Tool::require("podman", "running in a container")?;
    let image = images::ensure_env_image(
        workspace,
        &run.env_name,
        Some(&run.env_version),
        &BaseOverride::default(),
        reporter,
    )?;
    let name = images::load_into_podman(image.store.dir(), &image.reference)?;
    workspace.set_run_image(&run.id, &format!("{}@{}", image.reference, image.digest))?;
    Ok(Prepared {
        python: PathBuf::from(&image.python),
        environment: image
            .record
            .environment
            .variables()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain([(
                "STRATA_ENVIRONMENT".to_string(),
                format!("{}:{}", image.record.name, image.record.version),
            )])
            .collect(),
        lock_hash: image.lock_hash.clone().unwrap_or_default(),
        container: Some(ContainerLaunch {
            podman: podman.path,
            image: name,
            name: format!("strata-run-{}", run.id),
        }),
        _lease: None,
    })
}
