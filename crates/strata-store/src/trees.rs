//! Directory trees in the blob store: every file a blob, and a manifest (itself a blob)
//! listing paths, digests, sizes and modes. The same files give the same manifest digest, and
//! storing an unchanged tree again adds no bytes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::workspace::Workspace;

/// A stored tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative, `/`-separated.
    pub path: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
}

impl Manifest {
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl Workspace {
    /// Stores `files` (paths relative to `root`) and their manifest; returns the manifest digest.
    pub fn store_tree(
        &self,
        root: &Path,
        files: &[PathBuf],
    ) -> Result<(String, Manifest), StoreError> {
        let paths: Vec<PathBuf> = files.iter().map(|relative| root.join(relative)).collect();
        let stored = self.blobs().put_files(&paths)?;
        let mut entries: Vec<ManifestEntry> = files
            .iter()
            .zip(stored)
            .map(|(relative, (digest, metadata))| ManifestEntry {
                path: relative.to_string_lossy().replace('\\', "/"),
                digest,
                size: metadata.len(),
                executable: is_executable(&metadata),
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = Manifest { files: entries };
        let text = serde_json::to_vec(&manifest).map_err(|source| StoreError::CorruptRecord {
            what: "manifest".to_string(),
            source,
        })?;
        let digest = self.blobs().put_bytes(&text)?;
        Ok((digest, manifest))
    }

    /// Stores every regular file under `root` (symlinks and special files are skipped).
    pub fn store_dir(&self, root: &Path) -> Result<(String, Manifest), StoreError> {
        let mut files = Vec::new();
        if root.is_dir() {
            collect(root, root, &mut files)?;
        }
        self.store_tree(root, &files)
    }

    pub fn read_manifest(&self, digest: &str) -> Result<Manifest, StoreError> {
        let bytes = self.blobs().read_verified(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::CorruptRecord {
            what: format!("manifest `{digest}`"),
            source,
        })
    }

    /// Writes the files of a manifest (optionally only those under `prefix`, with it stripped)
    /// into `dest`, each checked against its digest.
    pub fn restore_tree(
        &self,
        manifest: &Manifest,
        prefix: &str,
        dest: &Path,
    ) -> Result<usize, StoreError> {
        let mut count = 0;
        for entry in &manifest.files {
            let relative = if prefix.is_empty() {
                entry.path.as_str()
            } else if let Some(rest) = entry
                .path
                .strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('/'))
            {
                rest
            } else if entry.path == prefix {
                Path::new(&entry.path)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(&entry.path)
            } else {
                continue;
            };
            let target = dest.join(relative);
            if let Some(parent) = target.parent() {
                fs_err::create_dir_all(parent).map_err(StoreError::io(parent))?;
            }
            let source = self.blobs().verify(&entry.digest)?;
            // A copy, never a hardlink: the receiver may change the file, the blob must not.
            fs_err::copy(&source, &target).map_err(StoreError::io(&target))?;
            set_executable(&target, entry.executable)?;
            count += 1;
        }
        Ok(count)
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    for entry in fs_err::read_dir(dir).map_err(StoreError::io(dir))? {
        let entry = entry.map_err(StoreError::io(dir))?;
        let file_type = entry.file_type().map_err(StoreError::io(entry.path()))?;
        if file_type.is_dir() {
            collect(root, &entry.path(), out)?;
        } else if file_type.is_file() {
            out.push(
                entry
                    .path()
                    .strip_prefix(root)
                    .unwrap_or(&entry.path())
                    .to_path_buf(),
            );
        }
    }
    Ok(())
}

fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

fn set_executable(path: &Path, executable: bool) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(StoreError::io(path))
}
