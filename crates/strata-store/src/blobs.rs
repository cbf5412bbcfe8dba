//! A content-addressed blob store in a local directory: `sha256/<2 hex>/<62 hex>`, written to a
//! temporary file and renamed into place, checked against its name when read.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// Files up to this size are read whole when stored in a batch.
const SMALL_FILE: u64 = 1 << 20;

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

    /// Stores many files: each is hashed as it is read (a small one in a single read) and
    /// written only when its blob is new, and the new blobs are made durable with one
    /// filesystem sync before any of them becomes visible under its name. (A sync per file
    /// made a 100,000-file snapshot take minutes.) Returns each file's digest and metadata.
    pub fn put_files(
        &self,
        paths: &[PathBuf],
    ) -> Result<Vec<(BlobDigest, std::fs::Metadata)>, StoreError> {
        let tmp_dir = self.root.join("tmp");
        fs_err::create_dir_all(&tmp_dir).map_err(StoreError::io(&tmp_dir))?;
        let mut stored = Vec::with_capacity(paths.len());
        let mut pending: Vec<(tempfile::TempPath, PathBuf)> = Vec::new();
        let mut pending_digests = std::collections::HashSet::new();
        let mut buffer = Vec::new();
        for path in paths {
            let mut file = fs_err::File::open(path).map_err(StoreError::io(path))?;
            let metadata = file.metadata().map_err(StoreError::io(path))?;
            let (digest, staged) = if metadata.len() <= SMALL_FILE {
                buffer.clear();
                file.read_to_end(&mut buffer)
                    .map_err(StoreError::io(path))?;
                let digest = hex::encode(Sha256::digest(&buffer));
                let staged = if self.contains(&digest) || pending_digests.contains(&digest) {
                    None
                } else {
                    let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
                        .map_err(StoreError::io(&tmp_dir))?;
                    tmp.write_all(&buffer).map_err(StoreError::io(tmp.path()))?;
                    Some(tmp.into_temp_path())
                };
                (digest, staged)
            } else {
                let (digest, tmp) = self.stage(io::BufReader::new(file), &tmp_dir)?;
                let new = !self.contains(&digest) && !pending_digests.contains(&digest);
                (digest, new.then(|| tmp.into_temp_path()))
            };
            if let Some(staged) = staged {
                pending_digests.insert(digest.clone());
                pending.push((staged, self.path(&digest)));
            }
            stored.push((digest, metadata));
        }
        if !pending.is_empty() {
            let dir = fs_err::File::open(&tmp_dir).map_err(StoreError::io(&tmp_dir))?;
            nix::unistd::syncfs(dir.file()).map_err(|errno| StoreError::Io {
                path: tmp_dir.clone(),
                source: errno.into(),
            })?;
            let mut made = std::collections::HashSet::new();
            for (staged, target) in pending {
                let parent = target.parent().unwrap_or(&self.root).to_path_buf();
                if !made.contains(&parent) {
                    fs_err::create_dir_all(&parent).map_err(StoreError::io(&parent))?;
                    made.insert(parent);
                }
                staged.persist(&target).map_err(|e| StoreError::Io {
                    path: target.clone(),
                    source: e.error,
                })?;
            }
        }
        Ok(stored)
    }

    /// Copies a reader into a temporary file in `tmp_dir`, hashing it on the way.
    fn stage(
        &self,
        mut reader: impl Read,
        tmp_dir: &Path,
    ) -> Result<(BlobDigest, tempfile::NamedTempFile), StoreError> {
        let mut tmp = tempfile::NamedTempFile::new_in(tmp_dir).map_err(StoreError::io(tmp_dir))?;
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
        Ok((hex::encode(hasher.finalize()), tmp))
    }

    fn put_reader(&self, reader: impl Read) -> Result<BlobDigest, StoreError> {
        let tmp_dir = self.root.join("tmp");
        fs_err::create_dir_all(&tmp_dir).map_err(StoreError::io(&tmp_dir))?;
        let (digest, tmp) = self.stage(reader, &tmp_dir)?;
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

    #[test]
    fn a_batch_stores_each_content_once_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let big = "x".repeat((SMALL_FILE + 10) as usize);
        let mut paths = Vec::new();
        for (name, content) in [
            ("a", "same"),
            ("b", "same"),
            ("c", "other"),
            ("d", big.as_str()),
        ] {
            let path = dir.path().join(name);
            fs_err::write(&path, content).unwrap();
            paths.push(path);
        }
        let stored = store.put_files(&paths).unwrap();
        assert_eq!(stored[0].0, stored[1].0);
        assert_eq!(stored[3].1.len(), SMALL_FILE + 10);
        assert_eq!(store.read_verified(&stored[2].0).unwrap(), b"other");
        assert_eq!(store.read_verified(&stored[3].0).unwrap(), big.as_bytes());
        let blobs = || walk_count(&dir.path().join("blobs/sha256"));
        assert_eq!(blobs(), 3);
        let digests = |batch: &[(BlobDigest, std::fs::Metadata)]| -> Vec<BlobDigest> {
            batch.iter().map(|(digest, _)| digest.clone()).collect()
        };
        assert_eq!(digests(&store.put_files(&paths).unwrap()), digests(&stored));
        assert_eq!(blobs(), 3);
        // Nothing is left behind in the staging directory.
        assert_eq!(walk_count(&dir.path().join("blobs/tmp")), 0);
    }

    fn walk_count(dir: &Path) -> usize {
        fs_err::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk_count(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
}
