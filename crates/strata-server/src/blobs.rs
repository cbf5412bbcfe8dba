//! Blob backends by URL: `file:///dir` (the local blob directory) and `s3://bucket[/prefix]`
//! (object_store, configured from the standard `AWS_*` variables). Keys are
//! `sha256/<2 hex>/<64 hex>`, uploads create-only, downloads verified.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt as _, PutMode, PutPayload, RetryConfig,
    WriteMultipart,
};
use sha2::{Digest as _, Sha256};
use strata_store::store::{
    BlobStorage, BlobStream, LocalBlobs, check_digest, check_range, verified,
};
use strata_store::{BlobStore, StoreError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Files up to this size go up in one create-only `PUT` (read into memory); larger ones in
/// parts, streamed.
const SINGLE_PUT_MAX: u64 = 16 << 20;
const PART_SIZE: usize = 8 << 20;

/// A blob URL that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BlobUrlError {
    #[error("Unsupported blob store URL `{url}`: use `file:///DIR` or `s3://BUCKET[/PREFIX]`")]
    Unsupported { url: String },
    #[error("Invalid blob store URL `{url}`")]
    Invalid {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("Cannot configure the S3 blob store `{url}`")]
    S3 {
        url: String,
        #[source]
        source: object_store::Error,
    },
}

/// The blob store at `url`.
pub fn open_blobs(url: &str) -> Result<Arc<dyn BlobStorage>, BlobUrlError> {
    let parsed = url::Url::parse(url).map_err(|source| BlobUrlError::Invalid {
        url: url.to_string(),
        source,
    })?;
    match parsed.scheme() {
        "file" => {
            let dir = parsed
                .to_file_path()
                .map_err(|()| BlobUrlError::Unsupported {
                    url: url.to_string(),
                })?;
            Ok(Arc::new(LocalBlobs::new(BlobStore::new(dir))))
        }
        "s3" => {
            let bucket = parsed.host_str().ok_or_else(|| BlobUrlError::Unsupported {
                url: url.to_string(),
            })?;
            // Timeouts and retries short enough that an unreachable S3 fails a request
            // within seconds; then the standard `AWS_*` variables, which may change them.
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_client_options(
                    ClientOptions::new()
                        .with_connect_timeout(Duration::from_secs(5))
                        .with_timeout(Duration::from_secs(300)),
                )
                .with_retry(RetryConfig {
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(20),
                    ..RetryConfig::default()
                });
            for (key, value) in std::env::vars() {
                if key.starts_with("AWS_")
                    && let Ok(config) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
                {
                    builder = builder.with_config(config, value);
                }
            }
            let store =
                builder
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|source| BlobUrlError::S3 {
                        url: url.to_string(),
                        source,
                    })?;
            let prefix = parsed.path().trim_matches('/').to_string();
            Ok(Arc::new(ObjectBlobs::new(Arc::new(store), &prefix, url)))
        }
        _ => Err(BlobUrlError::Unsupported {
            url: url.to_string(),
        }),
    }
}

/// Blobs in an object store, under `prefix`.
#[derive(Debug, Clone)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// Where the blobs are, for messages.
    location: String,
}

impl ObjectBlobs {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, location: &str) -> Self {
        Self {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            location: location.to_string(),
        }
    }

    fn key(&self, digest: &str) -> ObjectPath {
        let key = format!("sha256/{}/{digest}", &digest[..2]);
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn failed(&self, error: object_store::Error) -> StoreError {
        StoreError::Unavailable {
            what: format!("The blob store `{}`", self.location),
            message: crate::errors::error_chain(&error),
        }
    }

    async fn exists(&self, digest: &str) -> Result<bool, StoreError> {
        match self.store.head(&self.key(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(self.failed(error)),
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The SHA-256 of a file, in hex.
async fn hash_file(path: &Path) -> Result<(String, u64), StoreError> {
    let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer).await.map_err(io(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

#[async_trait]
impl BlobStorage for ObjectBlobs {
    async fn missing(&self, digests: &[String]) -> Result<Vec<String>, StoreError> {
        let mut missing = Vec::new();
        for digest in digests {
            check_digest(digest)?;
            if !self.exists(digest).await? {
                missing.push(digest.clone());
            }
        }
        Ok(missing)
    }

    async fn put_file(&self, digest: &str, path: &Path) -> Result<(), StoreError> {
        check_digest(digest)?;
        let (actual, size) = hash_file(path).await?;
        if actual != digest {
            return Err(StoreError::CorruptBlob {
                digest: digest.to_string(),
                actual,
            });
        }
        if self.exists(digest).await? {
            return Ok(());
        }
        let key = self.key(digest);
        if size <= SINGLE_PUT_MAX {
            let bytes = tokio::fs::read(path).await.map_err(io(path))?;
            return match self
                .store
                .put_opts(&key, PutPayload::from(bytes), PutMode::Create.into())
                .await
            {
                // Already there: same name, so the same bytes.
                Ok(_)
                | Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Ok(()),
                Err(error) => Err(self.failed(error)),
            };
        }
        // Multipart uploads cannot be create-only; content addressing makes an overwrite
        // harmless (the same name is the same bytes).
        let upload = self
            .store
            .put_multipart(&key)
            .await
            .map_err(|e| self.failed(e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = match file.read(&mut buffer).await {
                Ok(read) => read,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(io(path)(error));
                }
            };
            if read == 0 {
                break;
            }
            if let Err(error) = writer.wait_for_capacity(4).await {
                return Err(self.failed(error));
            }
            writer.write(&buffer[..read]);
        }
        writer.finish().await.map_err(|e| self.failed(e))?;
        Ok(())
    }

    async fn get_to_file(&self, digest: &str, destination: &Path) -> Result<(), StoreError> {
        check_digest(digest)?;
        let result = match self.store.get(&self.key(digest)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotFound {
                    what: format!("Blob `{digest}`"),
                });
            }
            Err(error) => return Err(self.failed(error)),
        };
        let parent = destination.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(io(parent))?;
        let staged = tempfile::NamedTempFile::new_in(parent).map_err(io(parent))?;
        let mut file = tokio::fs::File::from_std(staged.reopen().map_err(io(staged.path()))?);
        let mut hasher = Sha256::new();
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed(e))?;
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

    async fn size(&self, digest: &str) -> Result<Option<u64>, StoreError> {
        check_digest(digest)?;
        match self.store.head(&self.key(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.failed(error)),
        }
    }

    async fn open(&self, digest: &str) -> Result<BlobStream, StoreError> {
        check_digest(digest)?;
        let stream = self.stream(digest, GetOptions::default()).await?;
        Ok(verified(digest, stream))
    }

    async fn open_range(&self, digest: &str, range: Range<u64>) -> Result<BlobStream, StoreError> {
        check_digest(digest)?;
        // Refused here rather than by the store, whose errors for it differ by backend
        // (S3 answers 416, which `object_store` reports as a generic error).
        if range.start >= range.end {
            return Err(StoreError::UnsatisfiableRange {
                digest: digest.to_string(),
                start: range.start,
                end: range.end,
                size: self.size(digest).await?.unwrap_or(0),
            });
        }
        let options = GetOptions::default().with_range(Some(range.clone()));
        match self.stream(digest, options).await {
            Ok(stream) => Ok(stream),
            // Only a failed request pays for a second one, which says why it failed.
            Err(error @ StoreError::NotFound { .. }) => Err(error),
            Err(error) => match self.size(digest).await? {
                Some(size) => check_range(digest, &range, size).and(Err(error)),
                None => Err(StoreError::NotFound {
                    what: format!("Blob `{digest}`"),
                }),
            },
        }
    }
}

impl ObjectBlobs {
    /// The object's bytes as `object_store` streams them from the response body: chunk by
    /// chunk, never whole in memory.
    async fn stream(&self, digest: &str, options: GetOptions) -> Result<BlobStream, StoreError> {
        let result = match self.store.get_opts(&self.key(digest), options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotFound {
                    what: format!("Blob `{digest}`"),
                });
            }
            Err(error) => return Err(self.failed(error)),
        };
        let this = self.clone();
        Ok(result
            .into_stream()
            .map(move |chunk| chunk.map_err(|e| this.failed(e)))
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_a_backend() {
        assert!(open_blobs("file:///tmp/strata-blobs").is_ok());
        assert!(matches!(
            open_blobs("gs://bucket"),
            Err(BlobUrlError::Unsupported { .. })
        ));
        assert!(matches!(
            open_blobs("not a url"),
            Err(BlobUrlError::Invalid { .. })
        ));
        let blobs = ObjectBlobs::new(
            Arc::new(object_store::memory::InMemory::new()),
            "/team/",
            "memory",
        );
        let digest = "ab".repeat(32);
        assert_eq!(
            blobs.key(&digest).as_ref(),
            format!("team/sha256/ab/{digest}")
        );
    }
}
