//! Listing and collecting cached prefixes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::cache::Cache;
use crate::error::BuildError;
use crate::materialize::MARKER;

/// A built prefix in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPrefix {
    /// The first 32 hex digits of its lock hash (its directory name).
    pub key: String,
    pub path: PathBuf,
    /// Bytes of the files only this prefix holds (files hardlinked from the uv or conda caches,
    /// which stay when the prefix goes, are not counted).
    pub size: u64,
    pub last_used: SystemTime,
}

/// Every finished prefix, most recently used first.
pub fn list_prefixes(cache: &Cache) -> Result<Vec<CachedPrefix>, BuildError> {
    let dir = cache.envs_dir();
    let Ok(entries) = fs_err::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut prefixes = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(marker) = fs_err::metadata(path.join(MARKER)) else {
            continue;
        };
        prefixes.push(CachedPrefix {
            key: name,
            size: own_size(&path),
            last_used: marker.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            path,
        });
    }
    prefixes.sort_by(|a, b| {
        b.last_used
            .cmp(&a.last_used)
            .then_with(|| a.key.cmp(&b.key))
    });
    Ok(prefixes)
}

/// What a collection removed (or would remove).
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    pub removed: Vec<CachedPrefix>,
    pub kept: Vec<CachedPrefix>,
    /// Unfinished builds left by processes that died.
    pub stale_builds: Vec<PathBuf>,
}

impl GcReport {
    pub fn removed_bytes(&self) -> u64 {
        self.removed.iter().map(|p| p.size).sum()
    }
}

/// Removes prefixes no one refers to (`referenced` holds lock hashes or their 32-digit keys),
/// then the least recently used above `max_size` bytes. Prefixes being built are left alone.
pub fn gc(
    cache: &Cache,
    referenced: &HashSet<String>,
    max_size: Option<u64>,
    dry_run: bool,
) -> Result<GcReport, BuildError> {
    let referenced: HashSet<&str> = referenced.iter().map(|h| crate::cache::short(h)).collect();
    let mut report = GcReport::default();
    let (used, unused): (Vec<_>, Vec<_>) = list_prefixes(cache)?
        .into_iter()
        .partition(|p| referenced.contains(p.key.as_str()));
    report.removed.extend(unused);
    let mut total: u64 = used.iter().map(|p| p.size).sum();
    // `used` is most recently used first: drop from the end while over the cap.
    let mut kept = used;
    if let Some(max) = max_size {
        while total > max {
            let Some(oldest) = kept.pop() else { break };
            total -= oldest.size;
            report.removed.push(oldest);
        }
    }
    report.kept = kept;
    let dir = cache.envs_dir();
    if let Ok(entries) = fs_err::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix(".tmp-")
                && let Some(key) = rest.split('-').next()
                && !is_locked(cache, key)
            {
                report.stale_builds.push(entry.path());
            }
        }
    }
    if dry_run {
        return Ok(report);
    }
    let mut removed = Vec::new();
    for prefix in std::mem::take(&mut report.removed) {
        if remove_prefix(cache, &prefix)? {
            removed.push(prefix);
        }
    }
    report.removed = removed;
    for path in &report.stale_builds {
        let _ = fs_err::remove_dir_all(path);
    }
    Ok(report)
}

/// Un-publishes a prefix by renaming it (atomic) and then deletes it, holding its build lock
/// so no build of it runs meanwhile. Returns false when a build holds the lock.
fn remove_prefix(cache: &Cache, prefix: &CachedPrefix) -> Result<bool, BuildError> {
    let lock_path = cache
        .envs_dir()
        .join(".locks")
        .join(format!("{}.lock", prefix.key));
    let guard = fs_err::File::create(&lock_path).map_err(|e| BuildError::io(&lock_path, e))?;
    if guard.file().try_lock().is_err() {
        return Ok(false);
    }
    let trash = cache
        .envs_dir()
        .join(format!(".trash-{}-{}", prefix.key, std::process::id()));
    fs_err::rename(&prefix.path, &trash).map_err(|e| BuildError::io(&prefix.path, e))?;
    fs_err::remove_dir_all(&trash).map_err(|e| BuildError::io(&trash, e))?;
    Ok(true)
}

fn is_locked(cache: &Cache, key: &str) -> bool {
    let lock_path = cache.envs_dir().join(".locks").join(format!("{key}.lock"));
    let Ok(file) = fs_err::File::open(&lock_path) else {
        return false;
    };
    file.file().try_lock().is_err()
}

/// Apparent size of the files under `path` that are not hardlinked elsewhere.
fn own_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.path().symlink_metadata() else {
                continue;
            };
            if metadata.is_dir() {
                stack.push(entry.path());
            } else if metadata.is_file() && metadata.nlink() == 1 {
                total += metadata.len();
            }
        }
    }
    total
}
