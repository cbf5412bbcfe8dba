//! The object-store blob backend on its own: in memory always, on S3 when configured.

mod common;

use std::sync::Arc;

use common::digest_of;
use futures_util::StreamExt as _;
use object_store::ObjectStoreExt as _;
use strata_server::{ObjectBlobs, open_blobs};
use strata_store::StoreError;
use strata_store::store::BlobStorage;
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
