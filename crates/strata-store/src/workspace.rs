//! Finding, creating and opening a workspace directory (`.strata/`).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::blobs::BlobStore;
use crate::db;
use crate::error::StoreError;

/// The name of the workspace directory that `strata init` creates.
pub const WORKSPACE_DIR: &str = ".strata";
const DATABASE: &str = "strata.db";

/// An open workspace: metadata in SQLite, content in the blob store.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    pub(crate) connection: Connection,
    blobs: BlobStore,
}

impl Workspace {
    /// Creates a workspace in `dir/.strata` (or in `dir` itself when it is named `.strata`).
    pub fn init(dir: &Path) -> Result<Self, StoreError> {
        let root = if dir.file_name().is_some_and(|n| n == WORKSPACE_DIR) {
            dir.to_path_buf()
        } else {
            dir.join(WORKSPACE_DIR)
        };
        if root.join(DATABASE).exists() {
            return Err(StoreError::WorkspaceExists { path: root });
        }
        fs_err::create_dir_all(root.join("blobs")).map_err(StoreError::io(&root))?;
        fs_err::write(
            root.join(".gitignore"),
            "# Strata workspace: metadata and content-addressed blobs.\n*\n",
        )
        .map_err(StoreError::io(&root))?;
        Self::open_at(root, true)
    }

    /// Opens the workspace at `root` (a `.strata` directory).
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        if !root.join(DATABASE).is_file() {
            return Err(StoreError::NotAWorkspace {
                path: root.to_path_buf(),
            });
        }
        Self::open_at(root.to_path_buf(), false)
    }

    fn open_at(root: PathBuf, create: bool) -> Result<Self, StoreError> {
        let path = root.join(DATABASE);
        let opened = db::open(&path, create).and_then(|mut connection| {
            db::migrate(&mut connection, &path)?;
            Ok(connection)
        });
        // SQLite says "disk I/O error" when its shared memory cannot grow on a full disk, even
        // to read: name the real cause.
        let connection = match opened {
            Ok(connection) => connection,
            Err(error @ StoreError::Database { .. }) if disk_is_full(&root) => {
                return Err(StoreError::DiskFull {
                    path: root,
                    source: Box::new(error),
                });
            }
            Err(error) => return Err(error),
        };
        let blobs = BlobStore::new(root.join("blobs"));
        let mut workspace = Self {
            root,
            connection,
            blobs,
        };
        workspace.seed_curated()?;
        Ok(workspace)
    }

    /// Finds the workspace: an explicit path, else `STRATA_WORKSPACE`, else the nearest
    /// `.strata/` from `cwd` upward.
    pub fn discover(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, StoreError> {
        if let Some(path) = explicit {
            let path = if path.is_relative() {
                cwd.join(path)
            } else {
                path.to_path_buf()
            };
            if path.join(DATABASE).is_file() {
                return Ok(path);
            }
            if path.join(WORKSPACE_DIR).join(DATABASE).is_file() {
                return Ok(path.join(WORKSPACE_DIR));
            }
            return Err(StoreError::NotAWorkspace { path });
        }
        for dir in cwd.ancestors() {
            let candidate = dir.join(WORKSPACE_DIR);
            if candidate.join(DATABASE).is_file() {
                return Ok(candidate);
            }
        }
        Err(StoreError::NoWorkspace {
            start: cwd.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }
}

/// Milliseconds since the epoch as an RFC 3339 UTC time, to the second.
pub fn format_time(millis: i64) -> String {
    let time = UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(millis).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Reads a time written by [`serialize_time`] (RFC 3339), or milliseconds since the epoch.
pub(crate) fn deserialize_time<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<i64, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(
        untagged,
        expecting = "an RFC 3339 time or milliseconds since the epoch"
    )]
    enum Either {
        Millis(i64),
        Text(String),
    }
    match <Either as serde::Deserialize>::deserialize(deserializer)? {
        Either::Millis(millis) => Ok(millis),
        Either::Text(text) => parse_time(&text).map_err(serde::de::Error::custom),
    }
}

pub(crate) fn deserialize_optional_time<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrapper(#[serde(deserialize_with = "deserialize_time")] i64);
    let value: Option<Wrapper> = serde::Deserialize::deserialize(deserializer)?;
    Ok(value.map(|Wrapper(millis)| millis))
}

/// An RFC 3339 time as milliseconds since the epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let time = humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(text))
        .map_err(|error| format!("`{text}` is not an RFC 3339 time: {error}"))?;
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("`{text}` is before 1970"))?
        .as_millis();
    i64::try_from(millis).map_err(|_| format!("`{text}` is too far in the future"))
}

thread_local! {
    /// Set while a record is serialized for the team server's API: its times are then exact
    /// milliseconds instead of RFC 3339 text to the second ([`crate::store::to_wire`]).
    static EXACT_TIMES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `serialize` with every time of the records it serializes written as exact
/// milliseconds. Serializing never awaits, so the setting stays with the one call on this
/// thread; the previous setting comes back after it, even on a panic.
pub(crate) fn with_exact_times<R>(serialize: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            EXACT_TIMES.set(self.0);
        }
    }
    let _restore = Restore(EXACT_TIMES.replace(true));
    serialize()
}

pub(crate) fn serialize_optional_time<S: serde::Serializer>(
    millis: &Option<i64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match millis {
        Some(millis) => serialize_time(millis, serializer),
        None => serializer.serialize_none(),
    }
}

pub(crate) fn serialize_time<S: serde::Serializer>(
    millis: &i64,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if EXACT_TIMES.get() {
        serializer.serialize_i64(*millis)
    } else {
        serializer.serialize_str(&format_time(*millis))
    }
}

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whether the filesystem holding `path` has (almost) no space left for SQLite's files.
#[allow(
    clippy::useless_conversion,
    reason = "`fsblkcnt_t` is `u64` here but `u32` on other platforms"
)]
fn disk_is_full(path: &Path) -> bool {
    nix::sys::statvfs::statvfs(path).is_ok_and(|stats| {
        u64::from(stats.blocks_available()).saturating_mul(stats.fragment_size()) < 1 << 20
    })
}
