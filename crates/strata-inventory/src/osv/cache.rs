//! A parsed copy of an advisory source, so audits after the first skip reading and parsing
//! thousands of YAML files: `<cache dir>/<source>-<state>.json`, `source` a hash of the
//! source's path and `state` of the name, size and modification time of every record file in
//! it (any change makes a new entry, and the entry of the old state is removed). Entries are
//! written atomically; an unreadable entry is ignored and rewritten.

use std::io::Write as _;
use std::path::Path;
use std::str::FromStr;
use std::time::UNIX_EPOCH;

use pep508_rs::pep440_rs::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{Advisory, AdvisoryDatabase, Affected, Event, Listed, is_record};
use crate::audit::Severity;
use crate::error::InventoryError;

/// Bumped when the cached form changes (old entries are then ignored). 2: `versions` lists
/// by lookup key, as compared, one string per list.
const FORMAT: u32 = 2;

#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    records: usize,
    withdrawn: usize,
    advisories: Vec<CachedAdvisory>,
}

#[derive(Serialize, Deserialize)]
struct CachedAdvisory {
    id: String,
    aliases: Vec<String>,
    summary: Option<String>,
    severity: Option<Severity>,
    score: Option<f64>,
    affected: Vec<CachedAffected>,
}

#[derive(Serialize, Deserialize)]
struct CachedAffected {
    package: String,
    /// Events as `(kind, version)`; `("introduced", None)` is `introduced: "0"`.
    ranges: Vec<Vec<(String, Option<String>)>>,
    /// By lookup key (`super::lookup_key`), sorted, one per line.
    versions: String,
}

/// `(hash of the source's path, hash of its state)`, 16 and 64 hex digits.
fn fingerprint(path: &Path) -> Result<(String, String), InventoryError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InventoryError::AdvisoryIo { path, source }
    };
    let mut hasher = Sha256::new();
    let canonical = fs_err::canonicalize(path).map_err(io(path))?;
    let source = hex::encode(Sha256::digest(canonical.display().to_string().as_bytes()));
    hasher.update(format!("{FORMAT}\n{}\n", canonical.display()).as_bytes());
    let mut stack = vec![canonical];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let metadata = fs_err::metadata(&dir).map_err(io(&dir))?;
        if !metadata.is_dir() {
            files.push((dir, metadata));
            continue;
        }
        for entry in fs_err::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let file_type = entry.file_type().map_err(io(&path))?;
            if file_type.is_dir() {
                stack.push(path);
            } else if is_record(&name) || name.ends_with(".zip") {
                let metadata = entry.metadata().map_err(io(&path))?;
                files.push((path, metadata));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for (file, metadata) in files {
        let modified = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |duration| duration.as_nanos());
        hasher.update(format!("{}\t{}\t{modified}\n", file.display(), metadata.len()).as_bytes());
    }
    Ok((source[..16].to_string(), hex::encode(hasher.finalize())))
}

fn to_cached(database: &AdvisoryDatabase) -> CacheFile {
    CacheFile {
        format: FORMAT,
        records: database.records,
        withdrawn: database.withdrawn,
        advisories: database
            .advisories
            .iter()
            .map(|advisory| CachedAdvisory {
                id: advisory.id.clone(),
                aliases: advisory.aliases.clone(),
                summary: advisory.summary.clone(),
                severity: advisory.severity,
                score: advisory.score,
                affected: advisory
                    .affected
                    .iter()
                    .map(|affected| CachedAffected {
                        package: affected.package.clone(),
                        ranges: affected
                            .ranges
                            .iter()
                            .map(|events| {
                                events
                                    .iter()
                                    .map(|event| match event {
                                        Event::Introduced(version) => (
                                            "introduced".to_string(),
                                            version.as_ref().map(ToString::to_string),
                                        ),
                                        Event::Fixed(version) => {
                                            ("fixed".to_string(), Some(version.to_string()))
                                        }
                                        Event::LastAffected(version) => {
                                            ("last_affected".to_string(), Some(version.to_string()))
                                        }
                                    })
                                    .collect()
                            })
                            .collect(),
                        versions: affected.versions.joined().to_string(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn from_cached(file: CacheFile) -> Option<AdvisoryDatabase> {
    if file.format != FORMAT {
        return None;
    }
    let mut database = AdvisoryDatabase {
        records: file.records,
        withdrawn: file.withdrawn,
        ..AdvisoryDatabase::default()
    };
    for cached in file.advisories {
        let mut affected = Vec::with_capacity(cached.affected.len());
        for entry in cached.affected {
            let mut ranges = Vec::with_capacity(entry.ranges.len());
            for events in entry.ranges {
                let mut parsed = Vec::with_capacity(events.len());
                for (kind, version) in events {
                    let version = match version {
                        None => None,
                        Some(text) => Some(Version::from_str(&text).ok()?),
                    };
                    parsed.push(match (kind.as_str(), version) {
                        ("introduced", version) => Event::Introduced(version),
                        ("fixed", Some(version)) => Event::Fixed(version),
                        ("last_affected", Some(version)) => Event::LastAffected(version),
                        _ => return None,
                    });
                }
                ranges.push(parsed);
            }
            affected.push(Affected {
                package: entry.package,
                ranges,
                versions: Listed::from_joined(entry.versions),
            });
        }
        database.insert(Advisory {
            id: cached.id,
            aliases: cached.aliases,
            summary: cached.summary,
            severity: cached.severity,
            score: cached.score,
            affected,
        });
    }
    Some(database)
}

impl AdvisoryDatabase {
    /// [`AdvisoryDatabase::load`], through a parsed copy in `cache_dir` when the source has
    /// not changed since it was made.
    pub fn load_cached(path: &Path, cache_dir: &Path) -> Result<Self, InventoryError> {
        let (source, fingerprint) = fingerprint(path)?;
        let entry = cache_dir.join(format!("{source}-{fingerprint}.json"));
        if let Ok(bytes) = fs_err::read(&entry)
            && let Ok(file) = serde_json::from_slice::<CacheFile>(&bytes)
            && let Some(database) = from_cached(file)
        {
            return Ok(database);
        }
        let database = Self::load(path)?;
        // A cache that cannot be written only costs the next audit the parse.
        if write_entry(cache_dir, &entry, &to_cached(&database)).is_ok() {
            remove_older(cache_dir, &source, &entry);
        }
        Ok(database)
    }
}

/// Removes the entries of earlier states of the same source (a mirror updated daily would
/// otherwise leave one per day).
fn remove_older(dir: &Path, source: &str, keep: &Path) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path != keep
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{source}-"))
        {
            let _ = fs_err::remove_file(&path);
        }
    }
}

fn write_entry(dir: &Path, entry: &Path, file: &CacheFile) -> std::io::Result<()> {
    fs_err::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut temp, file)?;
    temp.flush()?;
    temp.persist(entry).map_err(|error| error.error)?;
    Ok(())
}
