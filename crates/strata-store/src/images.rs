//! Container images the workspace built, and base-image pins in locks.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use strata_spec::{Lock, LockedImage};

use crate::error::StoreError;
use crate::locks::LockRecord;
use crate::workspace::{Workspace, now_millis};

/// An image in the image store that this workspace built or imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// The name in the image store, e.g. `strata/env_<hash32>`.
    pub reference: String,
    pub manifest_digest: String,
    /// `environment`, `service` or `base`.
    pub kind: String,
    pub env_name: Option<String>,
    pub env_version: Option<strata_spec::EnvironmentVersion>,
    pub lock_hash: Option<String>,
    pub base_reference: Option<String>,
    pub base_digest: Option<String>,
    pub size: u64,
    #[serde(serialize_with = "crate::workspace::serialize_time")]
    pub created_at: i64,
}

pub(crate) const COLUMNS: &str = "reference, manifest_digest, kind, env_name, env_version, lock_hash, \
                       base_reference, base_digest, size, created_at";

pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRecord> {
    Ok(ImageRecord {
        reference: row.get(0)?,
        manifest_digest: row.get(1)?,
        kind: row.get(2)?,
        env_name: row.get(3)?,
        env_version: row
            .get::<_, Option<String>>(4)?
            .map(strata_spec::EnvironmentVersion::from_stored),
        lock_hash: row.get(5)?,
        base_reference: row.get(6)?,
        base_digest: row.get(7)?,
        size: row.get(8)?,
        created_at: row.get(9)?,
    })
}

impl Workspace {
    /// Records an image (replacing an older record of the same reference).
    pub fn record_image(&mut self, record: &ImageRecord) -> Result<(), StoreError> {
        self.connection
            .execute(
                &format!("INSERT OR REPLACE INTO images ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    record.reference,
                    record.manifest_digest,
                    record.kind,
                    record.env_name,
                    record.env_version.as_ref().map(strata_spec::EnvironmentVersion::as_str),
                    record.lock_hash,
                    record.base_reference,
                    record.base_digest,
                    record.size,
                    if record.created_at == 0 { now_millis() } else { record.created_at },
                ],
            )
            .map_err(StoreError::db("recording an image"))?;
        Ok(())
    }

    /// Every image recorded, newest first.
    pub fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT {COLUMNS} FROM images ORDER BY created_at DESC, reference"
            ))
            .map_err(StoreError::db("listing images"))?;
        let rows = statement
            .query_map([], from_row)
            .map_err(StoreError::db("listing images"))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::db("listing images"))
    }

    /// The image recorded under `reference`.
    pub fn get_image(&self, reference: &str) -> Result<Option<ImageRecord>, StoreError> {
        self.connection
            .query_row(
                &format!("SELECT {COLUMNS} FROM images WHERE reference = ?1"),
                params![reference],
                from_row,
            )
            .optional()
            .map_err(StoreError::db("reading an image"))
    }

    /// Forgets an image; returns whether it was recorded.
    pub fn delete_image(&mut self, reference: &str) -> Result<bool, StoreError> {
        let count = self
            .connection
            .execute(
                "DELETE FROM images WHERE reference = ?1",
                params![reference],
            )
            .map_err(StoreError::db("deleting an image"))?;
        Ok(count > 0)
    }

    /// Pins the base image of a version's lock unless it is pinned already, and returns the
    /// lock as stored: the first pin wins, like the first lock.
    pub fn pin_base_image(
        &mut self,
        name: &str,
        version: &strata_spec::EnvironmentVersion,
        image: &LockedImage,
    ) -> Result<LockRecord, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::db("starting a base image pin"))?;
        let text: Option<(String, i64)> = transaction
            .query_row(
                "SELECT lock, created_at FROM locks WHERE name = ?1 AND version = ?2",
                params![name, version.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(StoreError::db("reading a lock"))?;
        let (text, locked_at): (String, i64) = text.ok_or_else(|| StoreError::NotFound {
            what: format!("Lock of `{name}:{version}`"),
        })?;
        let mut lock: Lock =
            serde_json::from_str(&text).map_err(|source| StoreError::CorruptRecord {
                what: format!("lock of {name}:{version}"),
                source,
            })?;
        if lock.base_image.is_none() {
            lock.base_image = Some(image.clone());
            transaction
                .execute(
                    "UPDATE locks SET lock = ?3 WHERE name = ?1 AND version = ?2",
                    params![name, version.as_str(), lock.to_json()],
                )
                .map_err(StoreError::db("pinning a base image"))?;
        }
        transaction
            .commit()
            .map_err(StoreError::db("committing a base image pin"))?;
        Ok(LockRecord {
            lock_hash: lock.hash(),
            lock,
            locked_at,
        })
    }
}
