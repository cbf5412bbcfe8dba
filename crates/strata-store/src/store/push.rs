//! Moving an embedded workspace to a server: every record, through the same interfaces, with
//! the blobs each one points at uploaded first. Running it again sends only what is new.

use serde::Serialize;
use strata_spec::EnvironmentVersion;

use super::{BlobStorage, RunUpdate, WorkspaceStore, service_address, upload_blobs, upload_tree};
use crate::{RegisterOptions, StoreError, Workspace};

/// What a push sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSummary {
    pub environment_versions: usize,
    pub locks: usize,
    pub builds: usize,
    pub runs: usize,
    pub models: usize,
    pub services: usize,
    /// Compute targets attached on the server.
    pub targets: usize,
    /// Compute targets the server refused (attaching needs its `owner` role), by name.
    pub targets_not_pushed: Vec<String>,
    pub blobs: usize,
}

/// Told what is being sent.
pub trait PushProgress {
    fn step(&self, what: &str);
}

/// Copies `local` into the workspace `records`/`blobs`: environment versions under the same
/// versions, their locks and builds, runs with their snapshots, metrics, tags, logs and
/// outputs and scheduler jobs, models under the same versions, services, and the attached
/// compute targets the caller may attach there. What is already there is skipped.
pub async fn push_workspace(
    local: &Workspace,
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    progress: &dyn PushProgress,
) -> Result<PushSummary, StoreError> {
    let mut summary = PushSummary::default();
    progress.step("environments");
    for environment in local.list_environments(true, true)? {
        if environment.curated {
            continue;
        }
        push_environment(
            local,
            records,
            blobs,
            &environment.name,
            &environment.version,
            &mut summary,
        )
        .await?;
    }
    progress.step("compute targets");
    for target in local.list_targets()?.into_iter().filter(|t| !t.builtin) {
        match records.get_target(&target.name).await {
            Ok(_) => continue,
            Err(StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
        match records
            .attach_target(&target.name, &target.kind, &target.settings)
            .await
        {
            Ok(_) => summary.targets += 1,
            Err(StoreError::Forbidden { .. }) => summary.targets_not_pushed.push(target.name),
            Err(error) => return Err(error),
        }
    }
    progress.step("runs");
    let mut runs = local.list_runs(None)?;
    // Oldest first, so the server's order matches.
    runs.reverse();
    for run in runs.into_iter().filter(|r| r.is_finished()) {
        match records.get_run(&run.id).await {
            Ok(_) => continue,
            Err(StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
        for digest in [&run.snapshot, &run.outputs, &run.logs]
            .into_iter()
            .flatten()
        {
            summary.blobs += upload_tree(local, blobs, digest).await?;
        }
        records.create_run(&run).await?;
        records.update_run(&run.id, &RunUpdate::Preparing).await?;
        if let Some(lock_hash) = &run.lock_hash {
            let update = RunUpdate::Prepared {
                lock_hash: lock_hash.clone(),
                image: run.image.clone(),
            };
            records.update_run(&run.id, &update).await?;
        }
        if run.started_at.is_some() {
            records.update_run(&run.id, &RunUpdate::Running).await?;
        }
        if let Some(job) = local.get_run_job(&run.id)? {
            records.set_run_job(&job).await?;
        }
        let metrics = local.run_metrics(&run.id)?;
        if !metrics.is_empty() {
            records.add_metrics(&run.id, &metrics).await?;
        }
        for (key, value) in local.run_tags(&run.id)? {
            records.set_run_tag(&run.id, &key, value.as_deref()).await?;
        }
        if let Some(log) = local.stored_log(run.logs.as_deref())? {
            records
                .append_run_log(&run.id, 0, &String::from_utf8_lossy(&log))
                .await?;
        }
        let finished = RunUpdate::Finished {
            status: run.status.clone(),
            exit_code: run.exit_code,
            error: run.error.clone(),
            outputs: run.outputs.clone(),
            logs: run.logs.clone(),
        };
        records.update_run(&run.id, &finished).await?;
        summary.runs += 1;
    }
    progress.step("models");
    for model in local.list_models(true)? {
        let there = match records.get_model(&model.name, None).await {
            Ok(latest) => latest.version,
            Err(StoreError::NotFound { .. }) => 0,
            Err(error) => return Err(error),
        };
        if model.version <= there {
            continue;
        }
        if model.version != there + 1 {
            return Err(StoreError::Backend {
                what: format!("Pushing model `{}:{}`", model.name, model.version),
                message: format!(
                    "the server has version {there}, and versions are numbered one after the other"
                ),
            });
        }
        summary.blobs += upload_tree(local, blobs, &model.manifest).await?;
        records.register_model(model).await?;
        summary.models += 1;
    }
    progress.step("services");
    for mut service in local.list_services()? {
        // Recorded where teammates reach it, as a deployment on a server workspace is.
        service.host = service_address(&service.host, None).host().to_string();
        records.put_service(&service).await?;
        summary.services += 1;
    }
    Ok(summary)
}

async fn push_environment(
    local: &Workspace,
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    name: &str,
    version: &EnvironmentVersion,
    summary: &mut PushSummary,
) -> Result<(), StoreError> {
    let record = local.get_environment(name, Some(version))?;
    if let Some(context) = &record.environment.docker.build_context
        && let Some(digest) = crate::stored_context_digest(&context.location)
    {
        summary.blobs += upload_blobs(local, blobs, &[digest.to_string()]).await?;
    }
    let mut environment = record.environment.clone();
    environment.version = Some(version.to_string());
    let registration = records
        .register_environment(
            environment,
            RegisterOptions {
                anonymous: record.summary.anonymous,
            },
        )
        .await?;
    if registration.created {
        summary.environment_versions += 1;
    }
    if let Some(lock) = local.get_lock(name, version)?
        && records.get_lock(name, version).await?.is_none()
    {
        records.set_lock(name, version, &lock.lock).await?;
        summary.locks += 1;
    }
    let there = records.list_builds(name, version, None, 1).await?;
    if there.items.is_empty() {
        let mut builds = local.builds_of_version(name, version, u64::MAX)?;
        builds.reverse();
        for row in builds {
            let digests: Vec<String> = row.build.log_digest.iter().cloned().collect();
            summary.blobs += upload_blobs(local, blobs, &digests).await?;
            records.record_build(&row.build).await?;
            summary.builds += 1;
        }
    }
    Ok(())
}
