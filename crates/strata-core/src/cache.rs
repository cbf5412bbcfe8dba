//! `cache gc`: the build cache is shared by every workspace of a user, so what any of them
//! still references is kept (each workspace that builds into the cache is listed in it, see
//! [`WORKSPACES_FILE`]).

use std::collections::HashSet;
use std::path::Path;

use strata_build::{BuildError, Cache, GcReport, gc};
use strata_store::{StoreError, Workspace};

use crate::prepare::WORKSPACES_FILE;

/// Collecting the cache failed.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// The lock hashes `workspace` and every other workspace listed in the cache reference.
pub fn referenced_lock_hashes(
    workspace: &Workspace,
    cache: &Cache,
) -> Result<HashSet<String>, StoreError> {
    let mut referenced = workspace.referenced_lock_hashes()?;
    let own = workspace
        .root()
        .canonicalize()
        .unwrap_or_else(|_| workspace.root().to_path_buf());
    let listed = fs_err::read_to_string(cache.root().join(WORKSPACES_FILE)).unwrap_or_default();
    for root in listed.lines().map(Path::new).filter(|root| *root != own) {
        // A workspace that is gone (or unreadable) keeps nothing.
        if let Ok(other) = Workspace::open(root) {
            referenced.extend(other.referenced_lock_hashes()?);
        }
    }
    Ok(referenced)
}

/// Removes (or with `dry_run` only names) the prefixes no workspace references, and more
/// by last use until the cache fits `max_size`; prefixes in use stay.
pub fn collect_garbage(
    workspace: &Workspace,
    cache: &Cache,
    max_size: Option<u64>,
    dry_run: bool,
) -> Result<GcReport, GcError> {
    let referenced = referenced_lock_hashes(workspace, cache)?;
    Ok(gc(cache, &referenced, max_size, dry_run)?)
}
