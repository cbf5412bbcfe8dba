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
    /// Prefixes that would have gone but are in use: leased by a run or a service, or being
    /// built.
    pub in_use: Vec<CachedPrefix>,
    /// Unfinished builds left by processes that died.
    pub stale_builds: Vec<PathBuf>,
}

impl GcReport {
    pub fn removed_bytes(&self) -> u64 {
        self.removed.iter().map(|p| p.size).sum()
    }
}

/// Removes prefixes no one refers to (`referenced` holds lock hashes or their 32-digit keys),
/// then the least recently used above `max_size` bytes. Prefixes in use (leased by a run or a
/// service, or being built) are left alone and listed in [`GcReport::in_use`].
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
    let mut removed = Vec::new();
    for prefix in std::mem::take(&mut report.removed) {
        let gone = if dry_run {
            !in_use(cache, &prefix.key)?
        } else {
            remove_prefix(cache, &prefix)?
        };
        if gone {
            removed.push(prefix);
        } else {
            report.in_use.push(prefix);
        }
    }
    report.removed = removed;
    if dry_run {
        return Ok(report);
    }
    for path in &report.stale_builds {
        let _ = fs_err::remove_dir_all(path);
    }
    Ok(report)
}

/// Un-publishes a prefix by renaming it (atomic) and then deletes it, holding its build lock
/// (no build of it runs meanwhile) and its lease exclusively (no run or service uses it, and
/// none can start to until it is gone). Returns false when either is held by someone else.
fn remove_prefix(cache: &Cache, prefix: &CachedPrefix) -> Result<bool, BuildError> {
    let lock_path = cache
        .envs_dir()
        .join(".locks")
        .join(format!("{}.lock", prefix.key));
    let guard = fs_err::File::create(&lock_path).map_err(|e| BuildError::io(&lock_path, e))?;
    if guard.file().try_lock().is_err() {
        return Ok(false);
    }
    let Some(_lease) = cache.try_lease_exclusive(&prefix.key)? else {
        return Ok(false);
    };
    let trash = cache
        .envs_dir()
        .join(format!(".trash-{}-{}", prefix.key, std::process::id()));
    fs_err::rename(&prefix.path, &trash).map_err(|e| BuildError::io(&prefix.path, e))?;
    fs_err::remove_dir_all(&trash).map_err(|e| BuildError::io(&trash, e))?;
    Ok(true)
}

/// Whether a build or a lease holds the prefix now (for a dry run, which removes nothing).
fn in_use(cache: &Cache, key: &str) -> Result<bool, BuildError> {
    Ok(is_locked(cache, key) || cache.try_lease_exclusive(key)?.is_none())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materialize::lookup;

    fn fake_prefix(cache: &Cache, hash: &str) {
        let path = cache.prefix_path(hash);
        fs_err::create_dir_all(path.join("bin")).unwrap();
        fs_err::write(path.join(MARKER), "{}").unwrap();
        fs_err::write(path.join("bin/python"), "").unwrap();
    }

    /// Issue #11, item 1: `cache gc --max-size` removed the prefix of a running run.
    #[test]
    fn leased_prefixes_are_kept_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.ensure().unwrap();
        let hash = "ab".repeat(32);
        fake_prefix(&cache, &hash);
        let referenced = HashSet::from([hash.clone()]);

        let prefix = lookup(&hash, &cache).unwrap();
        let report = gc(&cache, &referenced, Some(0), true).unwrap();
        assert!(report.removed.is_empty());
        assert_eq!(report.in_use.len(), 1);
        let report = gc(&cache, &HashSet::new(), Some(0), false).unwrap();
        assert!(report.removed.is_empty());
        assert_eq!(report.in_use.len(), 1);
        assert!(prefix.path.join(MARKER).exists());

        drop(prefix);
        let report = gc(&cache, &referenced, Some(0), false).unwrap();
        assert_eq!(report.removed.len(), 1);
        assert!(report.in_use.is_empty());
        assert!(!cache.prefix_path(&hash).exists());
        assert!(lookup(&hash, &cache).is_none());
    }
}
