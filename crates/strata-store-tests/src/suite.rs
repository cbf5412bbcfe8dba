//! The entry point.

use std::sync::Arc;

use strata_store::store::{BlobStorage, BrowseStore, WorkspaceStore};

use crate::BlobGrants;
use crate::fixtures::Subject;

/// Runs the whole suite against one empty workspace: the story from registration to a
/// deployed model, then the properties every store keeps. Panics, saying which rule broke,
/// on the first failure.
///
/// `grants` makes an uploaded blob referenceable by `records` ([`crate::OwnBlobs`] for a local
/// workspace, [`crate::ServerGrants`] for a server's).
pub async fn conformance(
    records: Arc<dyn WorkspaceStore>,
    blobs: Arc<dyn BlobStorage>,
    grants: Arc<dyn BlobGrants>,
) {
    let subject = Subject {
        records,
        blobs,
        grants,
        run_root: Arc::new(tempfile::tempdir().expect("a directory for run directories")),
    };
    crate::properties::curated_environments_are_seeded(&subject).await;
    crate::story::story(&subject).await;
    crate::properties::identical_spec_registers_once(&subject).await;
    crate::properties::concurrent_registrations_are_consecutive(&subject).await;
    crate::properties::explicit_versions_are_immutable(&subject).await;
    crate::properties::first_lock_wins_under_concurrency(&subject).await;
    crate::properties::cursor_walks_survive_growth(&subject).await;
    crate::properties::if_match_has_one_winner(&subject).await;
    crate::properties::unstored_blobs_are_refused(&subject).await;
    crate::properties::blobs_are_verified_and_idempotent(&subject).await;
    crate::blobs::blobs_stream_whole_and_by_range(subject.blobs.as_ref()).await;
    crate::inventory::locked_packages_are_found_with_their_users(&subject).await;
    crate::labels::labels_name_one_version_and_move(&subject).await;
    crate::targets::targets_are_attached_listed_and_detached(&subject).await;
}

/// Runs the pages' reads against one empty workspace of a store that has them (the embedded
/// one and PostgreSQL; a remote store's pages are its server's): fills it through `records`
/// and reads it back through `pages`.
pub async fn browse_conformance(
    records: Arc<dyn WorkspaceStore>,
    pages: Arc<dyn BrowseStore>,
    blobs: Arc<dyn BlobStorage>,
    grants: Arc<dyn BlobGrants>,
) {
    let subject = Subject {
        records,
        blobs,
        grants,
        run_root: Arc::new(tempfile::tempdir().expect("a directory for run directories")),
    };
    crate::browse::pages_read_the_same(&subject, &pages).await;
}
