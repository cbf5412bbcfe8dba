//! Local files stored as blobs over [`BlobStorage`], and the manifests naming them: what the
//! use cases that take files (models, interactive runs) share, so a file is stored the same
//! way whichever workspace is behind the interface.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use strata_store::store::BlobStorage;
use strata_store::{Manifest, ManifestEntry, StoreError};

/// Why storing or reading files failed; each use case turns it into its own error.
#[derive(Debug)]
pub(crate) enum FileError {
    Store(StoreError),
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    CorruptManifest {
        digest: String,
        source: serde_json::Error,
    },
}

impl From<StoreError> for FileError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.to_path_buf();
    move |source| FileError::Read { path, source }
}

/// Symbolic links in a directory stored with [`store_local`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// Skipped, as special files are.
    Skip,
    /// A link to a regular file is stored as that file.
    FollowToFiles,
}

pub(crate) async fn read_manifest(
    blobs: &dyn BlobStorage,
    digest: &str,
) -> Result<Manifest, FileError> {
    let staging = tempfile::tempdir().map_err(read_error(&std::env::temp_dir()))?;
    let path = staging.path().join("manifest.json");
    blobs.get_to_file(digest, &path).await?;
    let bytes = fs_err::read(&path).map_err(read_error(&path))?;
    serde_json::from_slice(&bytes).map_err(|source| FileError::CorruptManifest {
        digest: digest.to_string(),
        source,
    })
}

/// Stores `manifest` as a blob; returns its digest.
pub(crate) async fn store_manifest(
    blobs: &dyn BlobStorage,
    manifest: &Manifest,
) -> Result<String, FileError> {
    let bytes = serde_json::to_vec(manifest).map_err(|source| StoreError::CorruptRecord {
        what: "manifest".to_string(),
        source,
    })?;
    let file = tempfile::NamedTempFile::new().map_err(read_error(&std::env::temp_dir()))?;
    fs_err::write(file.path(), &bytes).map_err(read_error(file.path()))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    blobs.put_file(&digest, file.path()).await?;
    Ok(digest)
}

/// A local file, or every regular file under a local directory (special files are skipped,
/// links as `links` says), named below the file's or directory's own name and sorted by
/// name; each stored unless the workspace has it.
pub(crate) async fn store_local(
    blobs: &dyn BlobStorage,
    path: &Path,
    links: Links,
) -> Result<Manifest, FileError> {
    let metadata = fs_err::metadata(path).map_err(read_error(path))?;
    let name = path
        .file_name()
        .map_or_else(|| "model".to_string(), |n| n.to_string_lossy().into_owned());
    let mut found = Vec::new();
    if metadata.is_dir() {
        collect(path, path, links, &mut found)?;
    } else {
        found.push((path.to_path_buf(), String::new()));
    }
    let mut stored: Vec<(PathBuf, ManifestEntry)> = Vec::new();
    for (file, relative) in found {
        let digest = file_digest(&file).map_err(read_error(&file))?;
        let metadata = fs_err::metadata(&file).map_err(read_error(&file))?;
        let entry = ManifestEntry {
            path: if relative.is_empty() {
                name.clone()
            } else {
                format!("{name}/{relative}")
            },
            digest,
            size: metadata.len(),
            executable: std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o111
                != 0,
        };
        stored.push((file, entry));
    }
    stored.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    let digests: Vec<String> = stored.iter().map(|(_, e)| e.digest.clone()).collect();
    let missing = blobs.missing(&digests).await?;
    for (file, entry) in &stored {
        if missing.contains(&entry.digest) {
            blobs.put_file(&entry.digest, file).await?;
        }
    }
    Ok(Manifest {
        files: stored.into_iter().map(|(_, entry)| entry).collect(),
    })
}

/// Every regular file below `dir`, with its `/`-separated path relative to `root`.
fn collect(
    root: &Path,
    dir: &Path,
    links: Links,
    out: &mut Vec<(PathBuf, String)>,
) -> Result<(), FileError> {
    for entry in fs_err::read_dir(dir).map_err(read_error(dir))? {
        let entry = entry.map_err(read_error(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(read_error(&path))?;
        if kind.is_dir() {
            collect(root, &path, links, out)?;
        } else if kind.is_file() || (links == Links::FollowToFiles && path.is_file()) {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((path, relative));
        }
    }
    Ok(())
}

fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}
