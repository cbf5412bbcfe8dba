//! The conformance suite through `RemoteStore`: the remote implementation keeps the same
//! rules as the local and PostgreSQL ones, with blobs in a directory and on S3.

mod common;

use std::sync::Arc;

use common::{Blobs, TestServer};
use strata_store::store::Role;
use strata_store_tests::{OwnBlobs, conformance};

async fn run_suite(blobs: Blobs) {
    let Some(server) = TestServer::start_with(blobs).await else {
        return;
    };
    let workspace = server.workspace("conformance").await;
    // An owner: attaching compute targets is part of the suite (the roles are the matrix's).
    let token = server
        .token(&common::unique("owner"), &workspace, Role::Owner)
        .await;
    let remote = Arc::new(server.remote(&workspace, &token));
    // The server grants a blob to the workspace when it is uploaded: nothing more to do.
    conformance(remote.clone(), remote, Arc::new(OwnBlobs)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remote_store_passes_the_conformance_suite_with_blobs_in_a_directory() {
    run_suite(Blobs::Directory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remote_store_passes_the_conformance_suite_with_blobs_on_s3() {
    run_suite(Blobs::S3).await;
}
