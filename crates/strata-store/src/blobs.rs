//! A content-addressed blob store in a local directory: `sha256/<2 hex>/<62 hex>`, written to a
//! temporary file and renamed into place, checked against its name when read.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// A sha256 digest in hex.
pub type BlobDigest = String;

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn path(&self, digest: &str) -> PathBuf {
        let (head, tail) = digest.split_at(2.min(digest.len()));
        self.root.join("sha256").join(head).join(tail)
    }

    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).is_file()
    }

    /// Stores bytes; storing the same bytes again writes nothing.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<BlobDigest, StoreError> {
        self.put_reader(bytes)
    }

    /// Stores a file's content, streaming it.
    pub fn put_file(&self, path: &Path) -> Result<BlobDigest, StoreError> {
        let file = fs_err::File::open(path).map_err(|e| StoreError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        self.put_reader(io::BufReader::new(file))
    }

    fn put_reader(&self, mut reader: impl Read) -> Result<BlobDigest, StoreError> {
        let tmp_dir = self.root.join("tmp");
        fs_err::create_dir_all(&tmp_dir).map_err(StoreError::io(&tmp_dir))?;
        let mut tmp =
            tempfile::NamedTempFile::new_in(&tmp_dir).map_err(StoreError::io(&tmp_dir))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = reader
                .read(&mut buffer)
                .map_err(StoreError::io(tmp.path()))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            tmp.write_all(&buffer[..read])
                .map_err(StoreError::io(tmp.path()))?;
        }
        let digest = hex::encode(hasher.finalize());
        let target = self.path(&digest);
        if target.is_file() {
            return Ok(digest);
        }
        tmp.as_file()
            .sync_all()
            .map_err(StoreError::io(tmp.path()))?;
        let parent = target.parent().unwrap_or(&self.root);
        fs_err::create_dir_all(parent).map_err(StoreError::io(parent))?;
        tmp.persist(&target).map_err(|e| StoreError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        Ok(digest)
    }

    /// Reads a blob and checks that its content still has its digest.
    pub fn read_verified(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(digest);
        let bytes = fs_err::read(&path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound {
                    what: format!("Blob `{digest}`"),
                }
            } else {
                StoreError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != digest {
            return Err(StoreError::CorruptBlob {
                digest: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Checks a blob's content against its digest without keeping it in memory.
    pub fn verify(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let path = self.path(digest);
        let file = fs_err::File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound {
                    what: format!("Blob `{digest}`"),
                }
            } else {
                StoreError::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        })?;
        let mut reader = io::BufReader::new(file);
        let mut hasher = Sha256::new();
        io::copy(&mut reader, &mut hasher).map_err(StoreError::io(&path))?;
        let actual = hex::encode(hasher.finalize());
        if actual != digest {
            return Err(StoreError::CorruptBlob {
                digest: digest.to_string(),
                actual,
            });
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_same_blob_and_corruption_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let a = store.put_bytes(b"hello").unwrap();
        assert_eq!(a, store.put_bytes(b"hello").unwrap());
        assert_eq!(store.read_verified(&a).unwrap(), b"hello");
        fs_err::write(store.path(&a), b"tampered").unwrap();
        assert!(matches!(
            store.read_verified(&a),
            Err(StoreError::CorruptBlob { .. })
        ));
        assert!(matches!(
            store.verify(&a),
            Err(StoreError::CorruptBlob { .. })
        ));
    }
}
