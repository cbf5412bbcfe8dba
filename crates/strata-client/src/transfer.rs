//! Blobs to and from the server: streamed both ways, checked against their digest.

use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures_util::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use strata_store::StoreError;
use strata_store::store::{BlobStorage, BlobStream, is_digest, verified};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::RemoteStore;
use crate::errors::from_transport;

/// The server answers about at most this many digests per request.
const MISSING_BATCH: usize = 10_000;

#[derive(Serialize)]
struct MissingRequest<'a> {
    digests: &'a [String],
}

#[derive(Deserialize)]
struct MissingResponse {
    missing: Vec<String>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn check_digest(digest: &str) -> Result<(), StoreError> {
    if is_digest(digest) {
        Ok(())
    } else {
        Err(StoreError::InvalidReference {
            reference: digest.chars().take(80).collect(),
            reason: "a blob is named by the SHA-256 of its bytes, 64 lowercase hex digits"
                .to_string(),
        })
    }
}

/// The SHA-256 of a file in hex, read in pieces.
pub async fn digest_of_file(path: &Path) -> Result<String, StoreError> {
    let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).await.map_err(io(path))?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

impl RemoteStore {
    /// A response's body as a blob stream, chunk by chunk.
    fn body_stream(&self, response: reqwest::Response) -> BlobStream {
        let url = self.url.clone();
        response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| from_transport(&e, &url)))
            .boxed()
    }

    /// Uploads those of `paths` the workspace does not hold yet (asking `blobs:missing`
    /// first); returns the digest of every path, in order.
    pub async fn upload_missing(&self, paths: &[PathBuf]) -> Result<Vec<String>, StoreError> {
        let mut digests = Vec::with_capacity(paths.len());
        for path in paths {
            digests.push(digest_of_file(path).await?);
        }
        let missing = self.missing(&digests).await?;
        for (path, digest) in paths.iter().zip(&digests) {
            if missing.contains(digest) {
                self.put_file(digest, path).await?;
            }
        }
        Ok(digests)
    }
}

#[async_trait]
impl BlobStorage for RemoteStore {
    async fn missing(&self, digests: &[String]) -> Result<Vec<String>, StoreError> {
        let mut missing = Vec::new();
        for batch in digests.chunks(MISSING_BATCH) {
            let request = self
                .request(Method::POST, &["blobs:missing"])
                .json(&MissingRequest { digests: batch });
            let answer: MissingResponse = self.decode(self.send(request).await?).await?;
            missing.extend(answer.missing);
        }
        Ok(missing)
    }

    async fn put_file(&self, digest: &str, path: &Path) -> Result<(), StoreError> {
        check_digest(digest)?;
        let file = tokio::fs::File::open(path).await.map_err(io(path))?;
        let size = file.metadata().await.map_err(io(path))?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let request = self
            .request(Method::PUT, &["blobs", digest])
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body);
        self.send(request).await.map(drop)
    }

    async fn get_to_file(&self, digest: &str, destination: &Path) -> Result<(), StoreError> {
        check_digest(digest)?;
        let response = self
            .send(self.request(Method::GET, &["blobs", digest]))
            .await?;
        let parent = destination.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(io(parent))?;
        let staged = tempfile::NamedTempFile::new_in(parent).map_err(io(parent))?;
        let mut file = tokio::fs::File::from_std(staged.reopen().map_err(io(staged.path()))?);
        let mut hasher = Sha256::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| from_transport(&e, &self.url))?;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io(staged.path()))?;
        }
        file.flush().await.map_err(io(staged.path()))?;
        drop(file);
        let actual = hex::encode(hasher.finalize());
        if actual != digest {
            return Err(StoreError::CorruptBlob {
                digest: digest.to_string(),
                actual,
            });
        }
        staged
            .persist(destination)
            .map_err(|e| io(destination)(e.error))?;
        Ok(())
    }

    async fn open(&self, digest: &str) -> Result<BlobStream, StoreError> {
        check_digest(digest)?;
        let response = self
            .send(self.request(Method::GET, &["blobs", digest]))
            .await?;
        Ok(verified(digest, self.body_stream(response)))
    }

    async fn open_range(&self, digest: &str, range: Range<u64>) -> Result<BlobStream, StoreError> {
        check_digest(digest)?;
        let unsatisfiable = |size| StoreError::UnsatisfiableRange {
            digest: digest.to_string(),
            start: range.start,
            end: range.end,
            size,
        };
        if range.start >= range.end {
            return Err(unsatisfiable(self.size(digest).await?.unwrap_or(0)));
        }
        let request = self.request(Method::GET, &["blobs", digest]).header(
            reqwest::header::RANGE,
            format!("bytes={}-{}", range.start, range.end - 1),
        );
        let response = self.send_raw(request).await?;
        match response.status() {
            StatusCode::PARTIAL_CONTENT => Ok(self.body_stream(response)),
            StatusCode::RANGE_NOT_SATISFIABLE => {
                // `Content-Range: bytes */SIZE`, as RFC 9110 has a 416 say.
                let size = response
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes */"))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                Err(unsatisfiable(size))
            }
            status if status.is_success() => Err(StoreError::Backend {
                what: format!("Reading bytes of blob `{digest}` from `{}`", self.url),
                message: format!("the server answered {status} to a `Range` request, not 206"),
            }),
            _ => Err(self.failure(response).await),
        }
    }

    async fn size(&self, digest: &str) -> Result<Option<u64>, StoreError> {
        check_digest(digest)?;
        let response = self
            .send_raw(self.request(Method::HEAD, &["blobs", digest]))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => Ok(response
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            _ => Err(self.failure(response).await),
        }
    }
}
