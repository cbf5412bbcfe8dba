//! Blobs: the object-store backend on its own (in memory always, on S3 when configured), and
//! the API's uploads and downloads: digests checked, records refused that point at blobs not
//! uploaded here, `Range`.

mod common;

use std::sync::Arc;

use std::path::PathBuf;

use common::{digest_of, file_with, run_record, setup, unique};
use futures_util::StreamExt as _;
use object_store::ObjectStoreExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use strata_server::{ObjectBlobs, open_blobs};
use strata_store::StoreError;
use strata_store::store::BlobStorage;
use strata_store::store::{Role, WorkspaceStore};
use strata_store_tests::blob_conformance;

/// Puts, gets and sizes a small blob and one large enough to go up in parts.
async fn round_trips(blobs: &dyn BlobStorage) {
    let dir = tempfile::tempdir().unwrap();
    let small = b"a small blob".to_vec();
    // Past the single-PUT limit (16 MiB): a multipart upload, in three parts.
    let large: Vec<u8> = (0..(17u32 << 20)).map(|i| (i % 253) as u8).collect();
    for bytes in [small, large] {
        let digest = digest_of(&bytes);
        let source = dir.path().join("source");
        std::fs::write(&source, &bytes).unwrap();
        assert_eq!(
            blobs.missing(std::slice::from_ref(&digest)).await.unwrap(),
            vec![digest.clone()]
        );
        blobs.put_file(&digest, &source).await.unwrap();
        blobs
            .put_file(&digest, &source)
            .await
            .expect("a second put is a success");
        assert!(
            blobs
                .missing(std::slice::from_ref(&digest))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(blobs.size(&digest).await.unwrap(), Some(bytes.len() as u64));
        let back = dir.path().join("back");
        blobs.get_to_file(&digest, &back).await.unwrap();
        assert!(
            std::fs::read(&back).unwrap() == bytes,
            "the bytes come back"
        );
    }
    let source = dir.path().join("wrong");
    std::fs::write(&source, b"not what the name says").unwrap();
    let claimed = digest_of(b"something else");
    let error = blobs.put_file(&claimed, &source).await.unwrap_err();
    assert!(matches!(error, StoreError::CorruptBlob { .. }), "{error}");
    assert_eq!(
        blobs.size(&claimed).await.unwrap(),
        None,
        "nothing stored under the claim"
    );
    let error = blobs
        .get_to_file(&claimed, &dir.path().join("x"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_in_memory_round_trip_and_refuse_corruption() {
    let store = Arc::new(object_store::memory::InMemory::new());
    let blobs = ObjectBlobs::new(store.clone(), "team", "memory://team");
    round_trips(&blobs).await;
    blob_conformance(Arc::new(blobs.clone())).await;
    // Bytes changed behind the store's back are refused on the way out.
    let digest = digest_of(b"original");
    let key = object_store::path::Path::from(format!("team/sha256/{}/{digest}", &digest[..2]));
    store
        .put(&key, object_store::PutPayload::from_static(b"tampered"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("out");
    let error = blobs.get_to_file(&digest, &destination).await.unwrap_err();
    assert!(matches!(error, StoreError::CorruptBlob { .. }), "{error}");
    assert!(!destination.exists(), "no corrupt file left behind");
    // Streamed, the tampered blob ends in an error before its last bytes.
    let mut stream = blobs
        .open(&digest)
        .await
        .expect("opening the tampered blob");
    let mut received = Vec::new();
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => received.extend_from_slice(&chunk),
            Err(error) => failure = Some(error),
        }
    }
    assert!(
        matches!(failure, Some(StoreError::CorruptBlob { .. })),
        "{failure:?}"
    );
    assert!(
        received.len() < b"tampered".len(),
        "a corrupt blob never streams complete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_on_s3_round_trip() {
    let Some(url) = common::required(
        "STRATA_TEST_S3_URL",
        "start one with `scripts/s3-test-server start DIR` and `source DIR/env`",
    ) else {
        return;
    };
    // A prefix of this run's own: the bucket outlives test runs.
    let url = format!("{}/{}", url.trim_end_matches('/'), common::unique("run"));
    let blobs = open_blobs(&url).unwrap();
    round_trips(blobs.as_ref()).await;
    blob_conformance(blobs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_its_digest_is_refused_and_nothing_is_stored() {
    let Some((server, workspace, token)) = setup("mismatch").await else {
        return;
    };
    let claimed = digest_of(b"the bytes the client claims");
    let sent = b"other bytes entirely";
    let response = reqwest::Client::new()
        .put(server.api(&format!("/workspaces/{workspace}/blobs/{claimed}")))
        .bearer_auth(&token)
        .body(sent.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
    assert_eq!(body["details"]["actual"], digest_of(sent));
    assert_eq!(server.blobs.size(&claimed).await.unwrap(), None);
    assert_eq!(server.blobs.size(&digest_of(sent)).await.unwrap(), None);
    let remote = server.remote(&workspace, &token);
    assert_eq!(
        remote
            .missing(std::slice::from_ref(&claimed))
            .await
            .unwrap(),
        vec![claimed.clone()]
    );
    // Through the client: the same refusal, as the local error.
    let file = file_with(sent);
    let error = remote.put_file(&claimed, file.path()).await.unwrap_err();
    assert!(matches!(error, StoreError::CorruptBlob { .. }), "{error}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_pointing_at_blobs_not_uploaded_here_are_refused() {
    let Some((server, workspace, token)) = setup("missing").await else {
        return;
    };
    let remote = server.remote(&workspace, &token);
    let absent = digest_of(b"never uploaded");
    let error = remote
        .create_run(&run_record(&unique("run"), Some(&absent)))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::MissingBlob { .. }), "{error}");
    let response = reqwest::Client::new()
        .post(server.api(&format!("/workspaces/{workspace}/runs")))
        .bearer_auth(&token)
        .json(&strata_store::store::to_wire(&run_record(
            &unique("run"),
            Some(&absent),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "missing_blob");

    // A blob another workspace uploaded is missing here: its digest proves nothing.
    let other = server.workspace("other").await;
    let other_token = server
        .token(&unique("other"), &other, Role::Contributor)
        .await;
    let other_remote = server.remote(&other, &other_token);
    let file = file_with(b"a snapshot of the other workspace");
    let digest = other_remote
        .upload_missing(&[PathBuf::from(file.path())])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        remote.missing(std::slice::from_ref(&digest)).await.unwrap(),
        vec![digest.clone()]
    );
    assert_eq!(
        remote.size(&digest).await.unwrap(),
        None,
        "not readable here"
    );
    let error = remote
        .create_run(&run_record(&unique("run"), Some(&digest)))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::MissingBlob { .. }), "{error}");
    // Once uploaded here too, it may be used.
    remote
        .upload_missing(&[PathBuf::from(file.path())])
        .await
        .unwrap();
    assert!(
        remote
            .missing(std::slice::from_ref(&digest))
            .await
            .unwrap()
            .is_empty()
    );
    remote
        .create_run(&run_record(&unique("run"), Some(&digest)))
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_download_whole_or_by_range_and_large_uploads_stream() {
    let Some((server, workspace, token)) = setup("range").await else {
        return;
    };
    let remote = server.remote(&workspace, &token);
    // Larger than the server's 1 MiB body limit: uploads are not limited, they stream.
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = file_with(&bytes);
    let digest = remote
        .upload_missing(&[PathBuf::from(file.path())])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(digest, digest_of(&bytes));
    assert_eq!(
        remote.size(&digest).await.unwrap(),
        Some(bytes.len() as u64)
    );
    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("back.bin");
    remote.get_to_file(&digest, &back).await.unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), bytes);

    let http = reqwest::Client::new();
    let url = server.api(&format!("/workspaces/{workspace}/blobs/{digest}"));
    let ranged = |range: &'static str| {
        http.get(&url)
            .bearer_auth(&token)
            .header("range", range)
            .send()
    };
    let response = ranged("bytes=10-19").await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()["content-range"], "bytes 10-19/3000000");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let response = ranged("bytes=-5").await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &bytes[bytes.len() - 5..]
    );
    let response = ranged("bytes=2999990-").await.unwrap();
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &bytes[2_999_990..]
    );
    let response = ranged("bytes=3000000-").await.unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(response.headers()["content-range"], "bytes */3000000");
    // Immutable: revalidation answers 304.
    let response = http
        .get(&url)
        .bearer_auth(&token)
        .header("if-none-match", format!("\"{digest}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = http.head(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.headers()["content-length"], "3000000");
    assert_eq!(response.headers()["accept-ranges"], "bytes");

    // Other bodies are limited.
    let big = vec![json!({"name": "m", "kind": "scalar", "value": 1, "loggedAt": 0}); 40_000];
    let run = unique("run");
    remote.create_run(&run_record(&run, None)).await.unwrap();
    let response = http
        .post(server.api(&format!("/workspaces/{workspace}/runs/{run}/metrics")))
        .bearer_auth(&token)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request", "{body}");
    // A body that is not what the route takes: the same JSON error, saying what is wrong.
    // (A new client: the server closed the connection it did not read the large body of.)
    let response = reqwest::Client::new()
        .post(server.api(&format!("/workspaces/{workspace}/blobs:missing")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"digest": []}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("digests"),
        "{body}"
    );
    server.stop().await;
}
