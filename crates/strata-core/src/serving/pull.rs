//! What serving on this machine needs of a server workspace, pulled into its working copy.

use strata_spec::{EnvironmentRef, EnvironmentVersion};
use strata_store::store::{
    BlobStorage, WorkspaceStore, download_tree, pull_build_context, pull_environment,
};
use strata_store::{StoreError, Workspace};

/// Pulls into `working_copy` the models `models` (name and version, the latest without one:
/// their files and records, under their versions), the environment versions they were
/// trained in and `env`, each with its lock and stored build context, so a deployment or a
/// foreground server of a server workspace runs here as in an embedded one.
pub async fn pull_for_serving(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    working_copy: &mut Workspace,
    models: &[(String, Option<u64>)],
    env: Option<&EnvironmentRef>,
) -> Result<(), StoreError> {
    for (name, version) in models {
        let model = records.get_model(name, *version).await?;
        download_tree(working_copy, blobs, &model.manifest).await?;
        working_copy.import_model(&model)?;
        if let Some(env_name) = &model.env_name {
            pull_version(
                records,
                blobs,
                working_copy,
                env_name,
                model.env_version.as_ref(),
            )
            .await?;
        }
    }
    if let Some(reference) = env {
        pull_version(
            records,
            blobs,
            working_copy,
            &reference.name,
            reference.version.as_ref(),
        )
        .await?;
    }
    Ok(())
}

async fn pull_version(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    working_copy: &mut Workspace,
    name: &str,
    version: Option<&EnvironmentVersion>,
) -> Result<(), StoreError> {
    let record = pull_environment(records, working_copy, name, version).await?;
    pull_build_context(working_copy, blobs, &record).await
}
