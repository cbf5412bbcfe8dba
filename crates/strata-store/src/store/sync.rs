//! Keeping a local working copy in step with a workspace elsewhere: what a run on this
//! machine needs of a server workspace (the environment version, its shared lock).

use std::path::Path;

use strata_spec::EnvironmentVersion;

use super::{BlobStorage, WorkspaceStore};
use crate::{EnvironmentRecord, RegisterOptions, StoreError, Workspace};

/// Makes a version of the other workspace exist here under the same name and version, with
/// its lock when it has one; returns it. The other workspace's lock wins: a different one made
/// here (locked while the other had none, then shared too late) is replaced by it, so this
/// machine builds what everybody else builds.
pub async fn pull_environment(
    remote: &dyn WorkspaceStore,
    local: &mut Workspace,
    name: &str,
    version: Option<&EnvironmentVersion>,
) -> Result<EnvironmentRecord, StoreError> {
    let record = remote.get_environment(name, version).await?;
    if !record.summary.curated {
        let mut environment = record.environment.clone();
        environment.version = Some(record.version.to_string());
        local.register_environment(
            environment,
            RegisterOptions {
                anonymous: record.summary.anonymous,
            },
        )?;
    }
    if let Some(lock) = remote.get_lock(name, &record.version).await? {
        let here = local.set_lock(name, &record.version, &lock.lock)?;
        if here.lock_hash != lock.lock_hash {
            local.replace_lock(name, &record.version, &lock.lock)?;
        }
    }
    local.get_environment(name, Some(&record.version))
}

/// Shares the lock made here; the first lock stored there wins, and a different winner is
/// an error (this machine has already built from its own).
pub async fn push_lock(
    remote: &dyn WorkspaceStore,
    local: &Workspace,
    name: &str,
    version: &EnvironmentVersion,
) -> Result<(), StoreError> {
    let Some(here) = local.get_lock(name, version)? else {
        return Ok(());
    };
    let there = remote.set_lock(name, version, &here.lock).await?;
    if there.lock_hash != here.lock_hash {
        return Err(StoreError::LockDiffers {
            name: name.to_string(),
            version: version.clone(),
            here: here.lock_hash,
            there: there.lock_hash,
        });
    }
    Ok(())
}

/// Uploads a stored tree (its manifest and every file) that the other side does not have;
/// returns how many blobs it sent.
pub async fn upload_tree(
    local: &Workspace,
    blobs: &dyn BlobStorage,
    manifest: &str,
) -> Result<usize, StoreError> {
    let tree = local.read_manifest(manifest)?;
    let mut digests: Vec<String> = vec![manifest.to_string()];
    digests.extend(tree.files.iter().map(|f| f.digest.clone()));
    digests.sort();
    digests.dedup();
    upload_blobs(local, blobs, &digests).await
}

/// Downloads a tree of the other side into `local` — its manifest, then the files `local`
/// does not hold yet, each checked against its digest — so it can be restored from there with
/// the same checks as a local tree.
pub async fn download_tree(
    local: &Workspace,
    blobs: &dyn BlobStorage,
    manifest: &str,
) -> Result<crate::Manifest, StoreError> {
    let here = super::LocalBlobs::new(local.blobs().clone());
    let staging = local.root().join("tmp");
    fs_err::create_dir_all(&staging).map_err(StoreError::io(&staging))?;
    let directory = tempfile::tempdir_in(&staging).map_err(StoreError::io(&staging))?;
    let fetch = |digests: Vec<String>| {
        let here = &here;
        let directory = directory.path();
        async move {
            for digest in here.missing(&digests).await? {
                let staged = directory.join(&digest);
                blobs.get_to_file(&digest, &staged).await?;
                here.put_file(&digest, &staged).await?;
            }
            Ok::<_, StoreError>(())
        }
    };
    fetch(vec![manifest.to_string()]).await?;
    let tree = local.read_manifest(manifest)?;
    fetch(tree.files.iter().map(|f| f.digest.clone()).collect()).await?;
    Ok(tree)
}

/// Writes the stored tree `manifest` into `root/sub` ([`Workspace::restore_tree_at`]) from
/// `local`, which holds it, or, as a server workspace's working copy, first fetches what it
/// lacks from `blobs`; returns the number of files written.
pub async fn restore_stored_tree(
    local: &Workspace,
    blobs: &dyn BlobStorage,
    manifest: &str,
    root: &Path,
    sub: &Path,
) -> Result<usize, StoreError> {
    let tree = download_tree(local, blobs, manifest).await?;
    local.restore_tree_at(&tree, "", root, sub)
}

/// Stores the build context directory `dir` on the other side as one archive blob (the
/// same deterministic archive an embedded workspace stores), sent only when it is missing
/// there; returns its reference `strata://contexts/<sha256>` for the definition. The blob
/// goes first, so a version registered with the reference never points at nothing.
pub async fn upload_build_context(
    local: &Workspace,
    blobs: &dyn BlobStorage,
    dir: &Path,
) -> Result<String, StoreError> {
    let reference = local.store_build_context(dir)?;
    if let Some(digest) = crate::context::stored_context_digest(&reference) {
        upload_blobs(local, blobs, &[digest.to_string()]).await?;
    }
    Ok(reference)
}

/// Fetches the build context a version's definition names (`strata://contexts/<sha256>`)
/// from the other side into `local`, when `local` does not hold it yet, checked against its
/// digest; a version without a stored context needs nothing.
pub async fn pull_build_context(
    local: &Workspace,
    blobs: &dyn BlobStorage,
    record: &EnvironmentRecord,
) -> Result<(), StoreError> {
    let Some(digest) = record
        .environment
        .docker
        .build_context
        .as_ref()
        .and_then(|context| crate::context::stored_context_digest(&context.location))
    else {
        return Ok(());
    };
    let here = super::LocalBlobs::new(local.blobs().clone());
    if here.missing(&[digest.to_string()]).await?.is_empty() {
        return Ok(());
    }
    let staging = local.root().join("tmp");
    fs_err::create_dir_all(&staging).map_err(StoreError::io(&staging))?;
    let directory = tempfile::tempdir_in(&staging).map_err(StoreError::io(&staging))?;
    let staged = directory.path().join(digest);
    blobs.get_to_file(digest, &staged).await?;
    here.put_file(digest, &staged).await
}

/// Uploads the blobs of `digests` the other side does not have (asking first, so each is
/// sent once); returns how many it sent.
pub async fn upload_blobs(
    local: &Workspace,
    blobs: &dyn BlobStorage,
    digests: &[String],
) -> Result<usize, StoreError> {
    let missing = blobs.missing(digests).await?;
    for digest in &missing {
        blobs.put_file(digest, &local.blobs().path(digest)).await?;
    }
    Ok(missing.len())
}
