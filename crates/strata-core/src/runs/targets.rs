//! Compute targets as runs use them: checked before anything is recorded, the resources a
//! Slurm run asks for, and the jobs of runs whose supervisor died.

use strata_compute::{Resources, SlurmSettings};
use strata_store::store::{WorkspaceStore, collect_all};
use strata_store::{
    BUILTIN_TARGETS, RunJob, RunRecord, StoreError, TargetRecord, Workspace, builtin_target,
    validate_target_name,
};

use super::{Result, RunsError};

/// A Slurm target just attached, and the partitions its cluster has.
#[derive(Debug)]
pub struct AttachedTarget {
    pub record: TargetRecord,
    pub settings: SlurmSettings,
    pub partitions: Vec<String>,
}

/// The first half of `strata compute attach NAME --slurm`: the name is valid, and the
/// scheduler answers and has the partition; returns the cluster's partitions. Outside any
/// async runtime, since the engines block (slurmrestd's has a runtime of its own).
pub fn check_slurm_target(name: &str, settings: &SlurmSettings) -> Result<Vec<String>> {
    validate_target_name(name)?;
    Ok(strata_compute::connect(settings)?.check(settings.partition.as_deref())?)
}

/// The second half: the target checked by [`check_slurm_target`] recorded, in an embedded
/// workspace or on a server (where it needs the `owner` role).
pub async fn attach_slurm_target(
    store: &dyn WorkspaceStore,
    name: &str,
    settings: SlurmSettings,
    partitions: Vec<String>,
) -> Result<AttachedTarget> {
    let value = serde_json::to_value(&settings).map_err(|source| RunsError::TargetSettings {
        target: name.to_string(),
        source,
    })?;
    let record = store.attach_target(name, "slurm", &value).await?;
    Ok(AttachedTarget {
        record,
        settings,
        partitions,
    })
}

/// Every target of a workspace: the built-in ones, then the attached ones by name.
pub async fn list_targets(store: &dyn WorkspaceStore) -> Result<Vec<TargetRecord>> {
    let mut targets: Vec<TargetRecord> = BUILTIN_TARGETS
        .iter()
        .filter_map(|(name, _)| builtin_target(name))
        .collect();
    targets.extend(
        collect_all(|cursor| async move { store.list_targets(cursor.as_deref(), 500).await })
            .await?,
    );
    Ok(targets)
}

/// For a run of a server workspace on target `name`: the server's record of it, copied into
/// the working copy the run executes in (replacing an older copy), so the run and its
/// detached supervisor find it there. Returns its kind.
pub async fn pull_target(
    store: &dyn WorkspaceStore,
    working_copy: &Workspace,
    name: &str,
) -> Result<String> {
    let target = store.get_target(name).await?;
    if target.builtin {
        return Ok(target.kind);
    }
    let current = working_copy.get_target(name).ok();
    let same = current
        .as_ref()
        .is_some_and(|t| t.kind == target.kind && t.settings == target.settings);
    if !same {
        if current.is_some() {
            working_copy.detach_target(name)?;
        }
        working_copy.attach_target(name, &target.kind, &target.settings)?;
    }
    Ok(target.kind)
}

/// A Slurm target's settings.
pub(super) fn slurm_settings(target: &TargetRecord) -> Result<SlurmSettings> {
    serde_json::from_value(target.settings.clone()).map_err(|source| RunsError::TargetSettings {
        target: target.name.clone(),
        source,
    })
}

/// For `strata run --target NAME`: the target's kind (`local`, `container`, `slurm`) after
/// checking, before anything is recorded, that it exists, its scheduler answers, and the
/// resources asked for are valid.
pub fn check_target(workspace: &Workspace, name: &str, resources: &Resources) -> Result<String> {
    let target = workspace.get_target(name)?;
    let asked = resources.cpus.is_some()
        || resources.memory.is_some()
        || resources.gpus.is_some()
        || resources.time.is_some();
    match target.kind.as_str() {
        "slurm" => {
            let settings = slurm_settings(&target)?;
            resources.amounts()?;
            strata_compute::connect(&settings)?.check(settings.partition.as_deref())?;
        }
        _ if asked => {
            return Err(RunsError::ResourcesOnLocalTarget {
                target: name.to_string(),
            });
        }
        _ => {}
    }
    Ok(target.kind)
}

/// Records what a queued Slurm run asks for, for its supervisor.
pub fn record_resources(
    workspace: &Workspace,
    run: &RunRecord,
    resources: &Resources,
) -> Result<(), StoreError> {
    workspace.set_run_job(&RunJob {
        run_id: run.id.clone(),
        target: run.target.clone(),
        job_id: None,
        resources: serde_json::to_value(resources).unwrap_or_default(),
        partition: None,
        node: None,
        state: "UNSUBMITTED".to_string(),
        reason: None,
        updated_at: strata_store::now_millis(),
    })
}

/// Settles runs whose supervisor died (as `strata_run::reap_orphans`), first cancelling the
/// Slurm job such a run submitted: nothing follows that job any more, so it must not go on
/// using the cluster for a run already marked failed. Returns the runs settled.
pub fn reap_orphans(workspace: &mut Workspace) -> Vec<String> {
    strata_run::reap_orphans_with(workspace, &mut |workspace, run| {
        let job_id = workspace.get_run_job(&run.id).ok()??.job_id?;
        let target = workspace.get_target(&run.target).ok()?;
        if target.kind != "slurm" {
            return None;
        }
        let stopped = slurm_settings(&target).and_then(|settings| {
            let engine = strata_compute::connect(&settings)?;
            // A job that ended meanwhile is not canceled (Slurm would refuse), only told.
            Ok(match engine.query(&job_id)? {
                Some(info) if info.job_state().is_finished() => {
                    format!("its Slurm job {job_id} had already ended ({})", info.state)
                }
                None => format!("Slurm no longer knows its job {job_id}"),
                Some(_) => {
                    engine.cancel(&job_id)?;
                    format!(
                        "its Slurm job {job_id} was canceled ({})",
                        engine.cancel_label()
                    )
                }
            })
        });
        Some(match stopped {
            Ok(what) => what,
            Err(error) => format!(
                "canceling its Slurm job {job_id} failed ({}); cancel it with `scancel {job_id}`",
                super::supervise::error_chain(&error)
            ),
        })
    })
}
