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
        // Directories checked (or made) once each, not once per file below them.
        let mut checked = std::collections::HashSet::new();
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
            let target = path_below(root, &sub.join(relative), &mut checked)?;
            // A copy, never a hardlink: the receiver may change the file, the blob must not.
            self.copy_blob(&entry.digest, &target, entry.executable)?;
            count += 1;
        }
        Ok(count)
    }

    /// Copies a blob to a new file at `target` (never through a symlink there), checking its
    /// digest on the way: one read of the blob, not one to verify and one to copy.
    fn copy_blob(&self, digest: &str, target: &Path, executable: bool) -> Result<(), StoreError> {
        use sha2::Digest as _;
        use std::io::{Read as _, Write as _};
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let source = self.blobs().path(digest);
        let mut input = std::fs::File::open(&source).map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                StoreError::NotFound {
                    what: format!("Blob `{digest}`"),
                }
            } else {
                StoreError::io(&source)(error)
            }
        })?;
        let mode = if executable { 0o755 } else { 0o644 };
        let open = |new: bool| {
            let mut options = std::fs::OpenOptions::new();
            options
                .write(true)
                .mode(mode)
                .custom_flags(nix::libc::O_NOFOLLOW);
            if new {
                options.create_new(true);
            } else {
                options.create(true).truncate(true);
            }
            options.open(target).map_err(|error| {
                // `ELOOP`: the last component is a symlink.
                if error.raw_os_error() == Some(nix::libc::ELOOP) {
                    StoreError::UnsafeDestination {
                        path: target.to_path_buf(),
                        reason: LINK_REASON.to_string(),
                    }
                } else {
                    StoreError::io(target)(error)
                }
            })
        };
        let (mut output, existed) = match open(true) {
            Ok(file) => (file, false),
            Err(StoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                (open(false)?, true)
            }
            Err(error) => return Err(error),
        };
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = input.read(&mut buffer).map_err(StoreError::io(&source))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            output
                .write_all(&buffer[..read])
                .map_err(StoreError::io(target))?;
        }
        let actual = hex::encode(hasher.finalize());
        if actual != digest {
            drop(output);
            let _ = std::fs::remove_file(target);
            return Err(StoreError::CorruptBlob {
                digest: digest.to_string(),
                actual,
            });
        }
        // The mode of a file that existed before is not changed by `open`.
        if existed {
            output
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(StoreError::io(target))?;
        }
        Ok(())
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

/// `root/relative`, with the directories between made or checked (each once, remembered in
/// `checked`): none of them may be a symlink, so nothing is written outside `root`.
fn path_below(
    root: &Path,
    relative: &Path,
    checked: &mut std::collections::HashSet<PathBuf>,
) -> Result<PathBuf, StoreError> {
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
        if checked.contains(&current) {
            continue;
        }
        match fs_err::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(unsafe_path(&current, LINK_REASON));
            }
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Err(unsafe_path(&current, "it is not a directory")),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::create_dir(&current) {
                    Ok(()) => {}
                    // Another writer made it meanwhile; check what it made.
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
        checked.insert(current.clone());
    }
    current.push(components[components.len() - 1]);
    Ok(current)
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
