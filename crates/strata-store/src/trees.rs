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
        let mut entries = Vec::with_capacity(files.len());
        for relative in files {
            let path = root.join(relative);
            let metadata = fs_err::metadata(&path).map_err(StoreError::io(&path))?;
            let digest = self.blobs().put_file(&path)?;
            entries.push(ManifestEntry {
                path: relative.to_string_lossy().replace('\\', "/"),
                digest,
                size: metadata.len(),
                executable: is_executable(&metadata),
            });
        }
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
    /// into `dest`, each checked against its digest. See [`Workspace::restore_tree_at`].
    pub fn restore_tree(
        &self,
        manifest: &Manifest,
        prefix: &str,
        dest: &Path,
    ) -> Result<usize, StoreError> {
        self.restore_tree_at(manifest, prefix, dest, Path::new(""))
    }

    /// Like [`Workspace::restore_tree`], into `root/sub`. `root` is the user's own target (it
    /// may be a symlink); nothing below it is written through a symlink: a directory or file
    /// already there as a link is refused, and files are opened with `O_NOFOLLOW`, so a link
    /// planted inside `root` cannot redirect a write outside it.
    pub fn restore_tree_at(
        &self,
        manifest: &Manifest,
        prefix: &str,
        root: &Path,
        sub: &Path,
    ) -> Result<usize, StoreError> {
        // The target itself is the caller's to choose, link or not.
        fs_err::create_dir_all(root).map_err(StoreError::io(root))?;
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
            let source = self.blobs().verify(&entry.digest)?;
            // A copy, never a hardlink: the receiver may change the file, the blob must not.
            write_below(root, &sub.join(relative), &source, entry.executable)?;
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

/// Copies `source` to `root/relative`, creating the directories between, never following a
/// symlink below `root`.
fn write_below(
    root: &Path,
    relative: &Path,
    source: &Path,
    executable: bool,
) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let unsafe_path = |path: &Path, reason: &str| StoreError::UnsafeDestination {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let components: Vec<_> = relative.components().collect();
    if components.is_empty()
        || !components
            .iter()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        return Err(unsafe_path(
            &root.join(relative),
            "the stored path leaves the target directory",
        ));
    }
    let mut current = root.to_path_buf();
    for component in &components[..components.len() - 1] {
        current.push(component);
        match fs_err::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(unsafe_path(&current, LINK_REASON));
            }
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Err(unsafe_path(&current, "it is not a directory")),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::create_dir(&current) {
                    Ok(()) => {}
                    // Another writer made it meanwhile; the next component checks it again.
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                        if fs_err::symlink_metadata(&current)
                            .is_ok_and(|m| m.file_type().is_symlink())
                        {
                            return Err(unsafe_path(&current, LINK_REASON));
                        }
                    }
                    Err(error) => return Err(StoreError::io(&current)(error)),
                }
            }
            Err(error) => return Err(StoreError::io(&current)(error)),
        }
    }
    current.push(components[components.len() - 1]);
    let mut input = fs_err::File::open(source).map_err(StoreError::io(source))?;
    let mode = if executable { 0o755 } else { 0o644 };
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&current)
        .map_err(|error| {
            // `ELOOP`: the last component is a symlink.
            if error.raw_os_error() == Some(nix::libc::ELOOP) {
                unsafe_path(&current, LINK_REASON)
            } else {
                StoreError::io(&current)(error)
            }
        })?;
    std::io::copy(&mut input, &mut output).map_err(StoreError::io(&current))?;
    // The mode of a file that existed before is not changed by `open`.
    output
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(StoreError::io(&current))
}

const LINK_REASON: &str = "it is a symbolic link, and Strata never writes through a link inside the target directory (remove it, or download into a new directory)";

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #11, item 4: a manifest path that climbs out, or a symlink below the target, must
    /// not lead a restore outside the target.
    #[test]
    fn restores_stay_inside_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::init(&dir.path().join("ws")).unwrap();
        let source = dir.path().join("src");
        fs_err::create_dir_all(source.join("a")).unwrap();
        fs_err::write(source.join("a/f.txt"), "f").unwrap();
        let (_, mut manifest) = workspace.store_dir(&source).unwrap();

        let target = dir.path().join("out");
        assert_eq!(workspace.restore_tree(&manifest, "", &target).unwrap(), 1);
        assert_eq!(fs_err::read_to_string(target.join("a/f.txt")).unwrap(), "f");

        let outside = dir.path().join("outside");
        fs_err::create_dir_all(&outside).unwrap();
        let linked = dir.path().join("linked");
        fs_err::create_dir_all(&linked).unwrap();
        std::os::unix::fs::symlink(&outside, linked.join("a")).unwrap();
        let error = workspace.restore_tree(&manifest, "", &linked).unwrap_err();
        assert!(
            matches!(error, StoreError::UnsafeDestination { .. }),
            "{error}"
        );

        manifest.files[0].path = "../escaped.txt".to_string();
        let error = workspace.restore_tree(&manifest, "", &target).unwrap_err();
        assert!(
            error.to_string().contains("leaves the target directory"),
            "{error}"
        );
        assert!(!dir.path().join("escaped.txt").exists());
        assert!(fs_err::read_dir(&outside).unwrap().next().is_none());
    }
}
