//! Blobs as streams of bytes: what a download sends without staging the blob first.

use std::ops::Range;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use sha2::{Digest as _, Sha256};

use crate::StoreError;

/// A blob's bytes, in chunks, as [`super::BlobStorage::open`] and
/// [`super::BlobStorage::open_range`] read them.
pub type BlobStream = BoxStream<'static, Result<Bytes, StoreError>>;

/// The part of a blob of `size` bytes that `range` names, as [`super::BlobStorage::open_range`]
/// defines it: cut at the end, refused when empty or starting at or past the end.
pub fn check_range(digest: &str, range: &Range<u64>, size: u64) -> Result<Range<u64>, StoreError> {
    if range.start >= range.end || range.start >= size {
        return Err(StoreError::UnsatisfiableRange {
            digest: digest.to_string(),
            start: range.start,
            end: range.end,
            size,
        });
    }
    Ok(range.start..range.end.min(size))
}

/// Hashes `inner` while it streams, holding each chunk back until the next one arrives: the
/// last is let through only when the whole hashes to `digest`, and otherwise replaced by
/// [`StoreError::CorruptBlob`]. A reader (an HTTP client counting `Content-Length`) so never
/// sees a corrupt blob complete, and no copy of the blob is staged to check it first.
pub fn verified(digest: &str, inner: BlobStream) -> BlobStream {
    struct State {
        inner: BlobStream,
        hasher: Sha256,
        held: Option<Bytes>,
        digest: String,
        done: bool,
    }
    let state = State {
        inner,
        hasher: Sha256::new(),
        held: None,
        digest: digest.to_string(),
        done: false,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            match state.inner.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(chunk)) => {
                    state.hasher.update(&chunk);
                    if let Some(previous) = state.held.replace(chunk) {
                        return Some((Ok(previous), state));
                    }
                }
                Some(Err(error)) => {
                    state.done = true;
                    return Some((Err(error), state));
                }
                None => {
                    state.done = true;
                    let actual = hex::encode(std::mem::take(&mut state.hasher).finalize());
                    if actual != state.digest {
                        let error = StoreError::CorruptBlob {
                            digest: state.digest.clone(),
                            actual,
                        };
                        return Some((Err(error), state));
                    }
                    return state.held.take().map(|last| (Ok(last), state));
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> BlobStream {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|part| Ok(Bytes::from_static(part)))
                .collect::<Vec<_>>(),
        )
        .boxed()
    }

    async fn collect(stream: BlobStream) -> (Vec<u8>, Option<StoreError>) {
        let mut bytes = Vec::new();
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(error) => return (bytes, Some(error)),
            }
        }
        (bytes, None)
    }

    #[tokio::test]
    async fn a_verified_stream_withholds_the_last_chunk_of_a_corrupt_blob() {
        let digest = hex::encode(Sha256::digest(b"abcdef"));
        let (bytes, error) = collect(verified(&digest, chunks(&[b"ab", b"cd", b"ef"]))).await;
        assert_eq!((bytes.as_slice(), error.is_none()), (&b"abcdef"[..], true));
        let (bytes, error) = collect(verified(&digest, chunks(&[b"ab", b"cd", b"eX"]))).await;
        assert_eq!(bytes, b"abcd", "the last chunk is held back");
        assert!(matches!(error, Some(StoreError::CorruptBlob { .. })));
        let empty = hex::encode(Sha256::digest(b""));
        let (bytes, error) = collect(verified(&empty, chunks(&[]))).await;
        assert!(bytes.is_empty() && error.is_none());
    }

    #[test]
    fn ranges_are_cut_at_the_end_and_refused_past_it() {
        let d = "d";
        assert_eq!(check_range(d, &(0..4), 10).unwrap(), 0..4);
        assert_eq!(check_range(d, &(8..20), 10).unwrap(), 8..10);
        assert!(check_range(d, &(10..11), 10).is_err());
        assert!(check_range(d, &(3..3), 10).is_err());
        assert!(check_range(d, &(0..1), 0).is_err());
    }
}
