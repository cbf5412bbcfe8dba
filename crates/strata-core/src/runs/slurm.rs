//! A run on a Slurm target: the environment built here and packed, the job submitted and
//! followed to its end.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use strata_compute::{EnvSource, Resources, Submission, ensure_pack};
use strata_run::Outcome;
use strata_store::{CANCELED, FAILED, RunRecord, Workspace};

use super::supervise::{Supervision, error_chain};
use super::targets::slurm_settings;
use super::{Result, RunsError};
use crate::ensure_built;

/// Supervises a run on a Slurm target; Ctrl-C, SIGTERM or SIGHUP cancel its job.
pub(super) fn supervise_slurm(
    workspace: &mut Workspace,
    run: &RunRecord,
    supervision: &Supervision<'_>,
) -> Result<Outcome> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let mut hooks = Vec::new();
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        if let Ok(id) = signal_hook::flag::register(signal, Arc::clone(&interrupted)) {
            hooks.push(id);
        }
    }
    let result = submit_and_watch(workspace, run, supervision, &interrupted);
    for id in hooks {
        signal_hook::low_level::unregister(id);
    }
    match result {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            let current = workspace.get_run(&run.id)?;
            if !current.is_finished() {
                workspace.run_finished(
                    &run.id,
                    FAILED,
                    None,
                    Some(&error_chain(&error)),
                    None,
                    None,
                )?;
            }
            Err(error)
        }
    }
}

fn submit_and_watch(
    workspace: &mut Workspace,
    run: &RunRecord,
    supervision: &Supervision<'_>,
    interrupted: &Arc<AtomicBool>,
) -> Result<Outcome> {
    let target = workspace.get_target(&run.target)?;
    let settings = slurm_settings(&target)?;
    let resources: Resources = workspace
        .get_run_job(&run.id)?
        .and_then(|job| serde_json::from_value(job.resources).ok())
        .unwrap_or_default();
    let built = ensure_built(
        workspace,
        &run.env_name,
        Some(&run.env_version),
        supervision.reporter,
    )?;
    workspace.run_prepared(&run.id, &built.lock.lock_hash)?;
    let run = workspace.get_run(&run.id)?;
    strata_run::prepare_run_dir(workspace, &run)?;
    if run.cancel_requested {
        let outcome = Outcome {
            status: CANCELED,
            exit_code: None,
            error: Some("Canceled before it was submitted".to_string()),
        };
        strata_run::finish(workspace, &run, &outcome)?;
        return Ok(outcome);
    }
    let env = if settings.shared_cache {
        EnvSource::Prefix {
            path: built.prefix.path.clone(),
            python: built.prefix.python.clone(),
        }
    } else {
        let (_, path) = ensure_pack(
            workspace,
            &built.lock.lock_hash,
            &built.prefix.path,
            &built.prefix.python,
        )?;
        EnvSource::Pack {
            path,
            lock_hash: built.lock.lock_hash.clone(),
            node_cache: settings.node_cache.clone(),
        }
    };
    let mut variables: std::collections::BTreeMap<String, String> = built
        .record
        .environment
        .variables()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    variables.insert(
        "STRATA_ENVIRONMENT".to_string(),
        format!("{}:{}", built.record.name, built.record.version),
    );
    let strata_bin = match &settings.strata_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe().map_err(RunsError::CurrentExe)?,
    };
    let engine = strata_compute::connect(&settings)?;
    let job_id = strata_compute::submit(
        workspace,
        engine.as_ref(),
        &Submission {
            run: &run,
            target: &run.target,
            settings: &settings,
            resources: &resources,
            env,
            variables,
            strata_bin,
        },
        supervision.progress,
    )?;
    let outcome = strata_compute::watch(
        workspace,
        &run,
        engine.as_ref(),
        &job_id,
        supervision.sink.clone(),
        interrupted,
        supervision.progress,
    )?;
    // The prefix stays leased (safe from `cache gc`) until the job has ended.
    drop(built);
    Ok(outcome)
}
