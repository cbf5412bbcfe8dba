//! Docker build contexts from local directories, stored as deterministic tar archives so the
//! same files give the same digest on any machine.

use std::path::Path;

use crate::error::StoreError;
use crate::workspace::Workspace;

/// The reference a local build context directory gets, computed without storing it.
pub fn build_context_reference(dir: &Path) -> Result<String, StoreError> {
    use sha2::{Digest, Sha256};
    let bytes = archive(dir)?;
    Ok(format!("{SCHEME}{}", hex::encode(Sha256::digest(&bytes))))
}

const SCHEME: &str = "strata://contexts/";

/// The blob digest of a stored build context's reference; `None` for any other location.
pub fn stored_context_digest(location: &str) -> Option<&str> {
    location.strip_prefix(SCHEME)
}

impl Workspace {
    /// Archives `dir` (sorted paths, zero mtimes and ids, modes 0644/0755) into the blob
    /// store and returns its reference `strata://contexts/<sha256>`.
    pub fn store_build_context(&self, dir: &Path) -> Result<String, StoreError> {
        let bytes = archive(dir)?;
        let digest = self.blobs().put_bytes(&bytes)?;
        Ok(format!("{SCHEME}{digest}"))
    }
}

fn archive(dir: &Path) -> Result<Vec<u8>, StoreError> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut builder = tar::Builder::new(Vec::new());
    for relative in files {
        let path = dir.join(&relative);
        let bytes = fs_err::read(&path).map_err(StoreError::io(&path))?;
        let executable = is_executable(&path);
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(if executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, &relative, bytes.as_slice())
            .map_err(StoreError::io(&path))?;
    }
    builder.into_inner().map_err(StoreError::io(dir))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), StoreError> {
    for entry in fs_err::read_dir(dir).map_err(StoreError::io(dir))? {
        let entry = entry.map_err(StoreError::io(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(StoreError::io(&path))?;
        if file_type.is_dir() {
            collect(root, &path, out)?;
        } else if file_type.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs_err::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}
