//! What every `BlobStorage` streams: the whole blob, and any range of it.

use std::ops::Range;
use std::sync::Arc;

use futures_util::StreamExt as _;
use strata_store::StoreError;
use strata_store::store::{BlobStorage, BlobStream};

use crate::fixtures::{absent_digest, digest_of};

async fn read_all(stream: BlobStream) -> Result<Vec<u8>, StoreError> {
    let mut stream = stream;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}

async fn read_range(
    blobs: &dyn BlobStorage,
    digest: &str,
    range: Range<u64>,
) -> Result<Vec<u8>, StoreError> {
    read_all(blobs.open_range(digest, range).await?).await
}

/// Runs the blob rules alone, for a `BlobStorage` without records (an object store).
pub async fn blob_conformance(blobs: Arc<dyn BlobStorage>) {
    blobs_stream_whole_and_by_range(blobs.as_ref()).await;
}

pub(crate) async fn blobs_stream_whole_and_by_range(blobs: &dyn BlobStorage) {
    // Larger than one chunk of any backend, so streams come in several pieces.
    let bytes: Vec<u8> = (0..1_300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let digest = digest_of(&bytes);
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), &bytes).expect("writing the blob");
    blobs
        .put_file(&digest, file.path())
        .await
        .expect("storing the blob to stream");
    let size = bytes.len() as u64;

    let whole = read_all(blobs.open(&digest).await.expect("opening the blob"))
        .await
        .expect("streaming the whole blob");
    assert!(whole == bytes, "the whole stream is the blob");

    let cut = |range: Range<u64>| bytes[range.start as usize..range.end as usize].to_vec();
    for (what, range, expected) in [
        ("at the start", 0..10, cut(0..10)),
        ("one byte", 5..6, cut(5..6)),
        ("in the middle", 400_000..900_001, cut(400_000..900_001)),
        ("at the end", size - 10..size, cut(size - 10..size)),
        (
            "reaching past the end",
            size - 5..size + 100,
            cut(size - 5..size),
        ),
        ("all of it", 0..size, bytes.clone()),
    ] {
        let got = read_range(blobs, &digest, range.clone())
            .await
            .unwrap_or_else(|e| panic!("reading the range {what} ({range:?}): {e}"));
        assert!(
            got == expected,
            "the range {what} ({range:?}) is those bytes: {} bytes instead of {}",
            got.len(),
            expected.len()
        );
    }
    for (what, range) in [
        ("starting at the end", size..size + 1),
        ("starting past the end", size + 10..size + 20),
        ("empty", 10..10),
    ] {
        let error = read_range(blobs, &digest, range.clone())
            .await
            .expect_err("an unsatisfiable range is refused");
        assert!(
            matches!(error, StoreError::UnsatisfiableRange { size: s, .. } if s == size),
            "a range {what} ({range:?}) is unsatisfiable and says the size: {error:?}"
        );
    }

    let absent = absent_digest("streamed");
    let error = blobs
        .open(&absent)
        .await
        .err()
        .expect("a blob not stored cannot be opened");
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    let error = blobs
        .open_range(&absent, 0..1)
        .await
        .err()
        .expect("a blob not stored has no ranges");
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
}
