//! Private wheels: stored by content, referenced as `strata://wheels/<sha256>/<file>.whl`.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::error::StoreError;
use crate::workspace::{Workspace, now_millis};

const SCHEME: &str = "strata://wheels/";

/// A stored wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WheelRef {
    pub sha256: String,
    pub filename: String,
    pub size: u64,
    /// `strata://wheels/<sha256>/<filename>`, usable as a pip requirement.
    pub uri: String,
    /// False when these exact bytes were stored before.
    pub created: bool,
}

impl Workspace {
    /// Stores a wheel file (Azure ML's `add_private_pip_wheel`). The same bytes give the same
    /// reference; other bytes under the same file name give another one.
    pub fn add_wheel(&mut self, path: &Path) -> Result<WheelRef, StoreError> {
        let filename = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| StoreError::InvalidWheel {
                path: path.to_path_buf(),
                reason: "the file name is not valid UTF-8".to_string(),
            })?
            .to_string();
        check_wheel_name(&filename).map_err(|reason| StoreError::InvalidWheel {
            path: path.to_path_buf(),
            reason,
        })?;
        let metadata = fs_err::metadata(path).map_err(StoreError::io(path))?;
        if !metadata.is_file() {
            return Err(StoreError::InvalidWheel {
                path: path.to_path_buf(),
                reason: "not a file".to_string(),
            });
        }
        let sha256 = self.blobs().put_file(path)?;
        let inserted = self
            .connection
            .execute(
                "INSERT OR IGNORE INTO wheels (sha256, filename, size, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![sha256, filename, metadata.len(), now_millis()],
            )
            .map_err(StoreError::db("recording a wheel"))?;
        Ok(WheelRef {
            uri: format!("{SCHEME}{sha256}/{filename}"),
            sha256,
            filename,
            size: metadata.len(),
            created: inserted == 1,
        })
    }

    /// The stored file behind a `strata://wheels/...` reference, its content checked.
    pub fn resolve_wheel(&self, uri: &str) -> Result<PathBuf, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidReference {
            reference: uri.to_string(),
            reason: reason.to_string(),
        };
        let rest = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid("expected `strata://wheels/<sha256>/<file>.whl`"))?;
        let (sha256, filename) = rest
            .split_once('/')
            .ok_or_else(|| invalid("expected `strata://wheels/<sha256>/<file>.whl`"))?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("the digest is not 64 hex digits"));
        }
        let known: Option<String> = self
            .connection
            .query_row(
                "SELECT filename FROM wheels WHERE sha256 = ?1 AND filename = ?2",
                params![sha256, filename],
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::db("looking up a wheel"))?;
        if known.is_none() {
            return Err(StoreError::NotFound {
                what: format!("Wheel `{uri}` (add it with `strata env add-wheel FILE`)"),
            });
        }
        self.blobs().verify(sha256)
    }

    /// Every stored wheel, newest first.
    pub fn list_wheels(&self) -> Result<Vec<WheelRef>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT sha256, filename, size FROM wheels ORDER BY created_at DESC, filename")
            .map_err(StoreError::db("listing wheels"))?;
        let rows = statement
            .query_map([], |row| {
                let sha256: String = row.get(0)?;
                let filename: String = row.get(1)?;
                Ok(WheelRef {
                    uri: format!("{SCHEME}{sha256}/{filename}"),
                    sha256,
                    filename,
                    size: row.get(2)?,
                    created: false,
                })
            })
            .map_err(StoreError::db("listing wheels"))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::db("listing wheels"))
    }
}

/// `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl` (PEP 427).
fn check_wheel_name(filename: &str) -> Result<(), String> {
    let Some(stem) = filename.strip_suffix(".whl") else {
        return Err("a wheel file name ends in `.whl`".to_string());
    };
    let parts = stem.split('-').count();
    if !(5..=6).contains(&parts) || stem.split('-').any(str::is_empty) {
        return Err("expected `NAME-VERSION-PYTHON-ABI-PLATFORM.whl` (PEP 427)".to_string());
    }
    Ok(())
}
