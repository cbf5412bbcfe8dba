//! The embedded blob directory behind [`BlobStorage`].

use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::{BlobStorage, BlobStream, check_digest, check_range, verified};
use crate::{BlobStore, StoreError};

/// A local blob directory behind [`BlobStorage`].
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    store: BlobStore,
}

impl LocalBlobs {
    pub fn new(store: BlobStore) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &BlobStore {
        &self.store
    }
}

#[async_trait]
impl BlobStorage for LocalBlobs {
    async fn missing(&self, digests: &[String]) -> Result<Vec<String>, StoreError> {
        for digest in digests {
            check_digest(digest)?;
        }
        Ok(digests
            .iter()
            .filter(|d| !self.store.contains(d))
            .cloned()
            .collect())
    }

    async fn put_file(&self, digest: &str, path: &Path) -> Result<(), StoreError> {
        check_digest(digest)?;
        if self.store.contains(digest) {
            return Ok(());
        }
        let actual = self.store.put_file(path)?;
        if actual != digest {
            // Never keep bytes under a name they do not hash to; the wrong blob is still a
            // valid blob under its own name.
            return Err(StoreError::CorruptBlob {
                digest: digest.to_string(),
                actual,
            });
        }
        Ok(())
    }

    async fn get_to_file(&self, digest: &str, destination: &Path) -> Result<(), StoreError> {
        check_digest(digest)?;
        let source = self.store.verify(digest)?;
        let parent = destination.parent().unwrap_or(Path::new("."));
        fs_err::create_dir_all(parent).map_err(StoreError::io(parent))?;
        let staged = tempfile::NamedTempFile::new_in(parent).map_err(StoreError::io(parent))?;
        fs_err::copy(&source, staged.path()).map_err(StoreError::io(destination))?;
        staged
            .persist(destination)
            .map_err(|e| StoreError::io(destination)(e.error))?;
        Ok(())
    }

    async fn size(&self, digest: &str) -> Result<Option<u64>, StoreError> {
        check_digest(digest)?;
        match std::fs::metadata(self.store.path(digest)) {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StoreError::io(self.store.path(digest))(error)),
        }
    }

    async fn open(&self, digest: &str) -> Result<BlobStream, StoreError> {
        let (file, _) = self.open_file(digest).await?;
        Ok(verified(
            digest,
            file_stream(file, u64::MAX, self.store.path(digest)),
        ))
    }

    async fn open_range(&self, digest: &str, range: Range<u64>) -> Result<BlobStream, StoreError> {
        let path = self.store.path(digest);
        let (mut file, size) = self.open_file(digest).await?;
        let range = check_range(digest, &range, size)?;
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(StoreError::io(&path))?;
        Ok(file_stream(file, range.end - range.start, path))
    }
}

impl LocalBlobs {
    /// The blob's file and its size, or `NotFound`.
    async fn open_file(&self, digest: &str) -> Result<(tokio::fs::File, u64), StoreError> {
        check_digest(digest)?;
        let path = self.store.path(digest);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    what: format!("Blob `{digest}`"),
                });
            }
            Err(error) => return Err(StoreError::io(&path)(error)),
        };
        let size = file.metadata().await.map_err(StoreError::io(&path))?.len();
        Ok((file, size))
    }
}

/// At most `length` bytes of `file` from where it is, in chunks of up to 256 KiB.
fn file_stream(file: tokio::fs::File, length: u64, path: PathBuf) -> BlobStream {
    tokio_util::io::ReaderStream::with_capacity(file.take(length), 256 << 10)
        .map(move |chunk| chunk.map_err(StoreError::io(&path)))
        .boxed()
}
