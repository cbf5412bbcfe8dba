//! Locks of environment versions and the builds made from them.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use strata_spec::{EnvironmentVersion, Lock};

use crate::environments::{RegisterOptions, Registration, insert_in};
use crate::error::StoreError;
use crate::workspace::{Workspace, now_millis};

/// The lock of one environment version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockRecord {
    pub lock_hash: String,
    pub lock: Lock,
    /// When the lock was stored, in milliseconds since the epoch (exact on the wire; 0 from
    /// a server that does not send it). SBOMs carry it as their time, so the same lock
    /// always gives the same document.
    #[serde(default)]
    pub locked_at: i64,
}

/// The latest version of a named environment, and its lock if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatestLock {
    pub environment: crate::EnvironmentSummary,
    pub lock: Option<LockRecord>,
}

/// One build (or failed lock or build) of an environment version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildRecord {
    pub name: String,
    pub version: EnvironmentVersion,
    pub lock_hash: Option<String>,
    /// `succeeded` or `failed`.
    pub status: String,
    pub prefix: Option<String>,
    /// The blob holding the full log.
    pub log_digest: Option<String>,
    pub error: Option<String>,
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub started_at: i64,
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub finished_at: i64,
}

impl Workspace {
    /// The lock of a version, if it has one.
    pub fn get_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<LockRecord>, StoreError> {
        // Cached: `env audit --all` and the pages read a lock per version.
        let row: Option<(String, String, i64)> = self
            .connection
            .prepare_cached(
                "SELECT lock_hash, lock, created_at FROM locks WHERE name = ?1 AND version = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![name, version.as_str()], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()
            })
            .map_err(StoreError::db("reading a lock"))?;
        row.map(|(lock_hash, text, locked_at)| {
            let lock = serde_json::from_str(&text).map_err(|source| StoreError::CorruptRecord {
                what: format!("lock of {name}:{version}"),
                source,
            })?;
            Ok(LockRecord {
                lock_hash,
                lock,
                locked_at,
            })
        })
        .transpose()
    }

    /// The latest version of each named environment, by name, after the name `after`, at
    /// most `limit`, with its lock when it has one: one query, for reading every lock at
    /// once (`env audit --all`).
    pub fn latest_locks(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LatestLock>, StoreError> {
        let columns = crate::environments::COLUMNS
            .split(", ")
            .map(|column| format!("e.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            // Walks `environments_summary`, which is in name order, keeping each name's last
            // version: a join on `MAX(id)` made SQLite sort every row, locks and all.
            "SELECT {columns}, l.lock_hash, l.lock, l.created_at FROM environments e
             LEFT JOIN locks l ON l.name = e.name AND l.version = e.version
             WHERE e.anonymous = 0 AND (?1 IS NULL OR e.name > ?1)
               AND NOT EXISTS (SELECT 1 FROM environments n WHERE n.name = e.name AND n.id > e.id)
             ORDER BY e.name
             LIMIT ?2"
        );
        let what = "reading the latest locks";
        let mut statement = self
            .connection
            .prepare_cached(&sql)
            .map_err(StoreError::db(what))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement
            .query_map(params![after, limit], |row| {
                let summary = crate::environments::row_to_summary(row)?;
                // Parsed from SQLite's own buffer: a lock is kilobytes of JSON.
                let lock = match row.get::<_, Option<String>>(8)? {
                    Some(hash) => Some((
                        hash,
                        serde_json::from_str::<Lock>(row.get_ref(9)?.as_str()?),
                        row.get::<_, i64>(10)?,
                    )),
                    None => None,
                };
                Ok((summary, lock))
            })
            .map_err(StoreError::db(what))?;
        let mut out = Vec::new();
        for row in rows {
            let (environment, lock) = row.map_err(StoreError::db(what))?;
            let lock = lock
                .map(|(lock_hash, parsed, locked_at)| {
                    parsed
                        .map(|lock| LockRecord {
                            lock_hash,
                            lock,
                            locked_at,
                        })
                        .map_err(|source| StoreError::CorruptRecord {
                            what: format!("lock of {}:{}", environment.name, environment.version),
                            source,
                        })
                })
                .transpose()?;
            out.push(LatestLock { environment, lock });
        }
        Ok(out)
    }

    /// Stores the lock of a version unless it already has one, and returns the one it has:
    /// the first lock wins, so every later build uses it.
    pub fn set_lock(
        &mut self,
        name: &str,
        version: &EnvironmentVersion,
        lock: &Lock,
    ) -> Result<LockRecord, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::db("storing a lock"))?;
        let inserted = transaction
            .execute(
                "INSERT OR IGNORE INTO locks (name, version, lock_hash, lock, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, version.as_str(), lock.hash(), lock.to_json(), now_millis()],
            )
            .map_err(StoreError::db("storing a lock"))?;
        if inserted == 1 {
            crate::inventory::index_lock(&transaction, name, version, lock)?;
        }
        transaction
            .commit()
            .map_err(StoreError::db("storing a lock"))?;
        self.get_lock(name, version)?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("Lock of `{name}:{version}`"),
            })
    }

    /// Makes `lock` the lock of a version, replacing the one it has: only for the working copy
    /// of a shared workspace, where the lock stored in the shared workspace wins over any this
    /// machine made (everywhere else a version's first lock stays its lock).
    pub fn replace_lock(
        &mut self,
        name: &str,
        version: &EnvironmentVersion,
        lock: &Lock,
    ) -> Result<LockRecord, StoreError> {
        let what = "replacing a lock";
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::db(what))?;
        transaction
            .execute(
                "DELETE FROM locked_packages WHERE env_name = ?1 AND env_version = ?2",
                params![name, version.as_str()],
            )
            .map_err(StoreError::db(what))?;
        transaction
            .execute(
                "INSERT OR REPLACE INTO locks (name, version, lock_hash, lock, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, version.as_str(), lock.hash(), lock.to_json(), now_millis()],
            )
            .map_err(StoreError::db(what))?;
        crate::inventory::index_lock(&transaction, name, version, lock)?;
        transaction.commit().map_err(StoreError::db(what))?;
        self.get_lock(name, version)?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("Lock of `{name}:{version}`"),
            })
    }

    /// Registers the definition of `name:version` again as the next version with a new lock:
    /// the outcome of re-resolving an unchanged definition whose resolution moved.
    pub fn register_relocked(
        &mut self,
        name: &str,
        version: &EnvironmentVersion,
        lock: &Lock,
    ) -> Result<Registration, StoreError> {
        let mut environment = self.get_environment(name, Some(version))?.environment;
        environment.version = None;
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::db("starting a re-lock"))?;
        let registration = insert_in(
            &transaction,
            environment,
            RegisterOptions::default(),
            false,
            true,
        )?;
        transaction
            .execute(
                "INSERT INTO locks (name, version, lock_hash, lock, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![registration.record.name, registration.record.version.as_str(), lock.hash(), lock.to_json(), now_millis()],
            )
            .map_err(StoreError::db("storing a lock"))?;
        crate::inventory::index_lock(
            &transaction,
            &registration.record.name,
            &registration.record.version,
            lock,
        )?;
        transaction
            .commit()
            .map_err(StoreError::db("committing a re-lock"))?;
        Ok(registration)
    }

    /// Records a build and stores its log as a blob.
    pub fn record_build(
        &mut self,
        mut record: BuildRecord,
        log: &str,
    ) -> Result<BuildRecord, StoreError> {
        record.log_digest = Some(self.blobs().put_bytes(log.as_bytes())?);
        self.connection
            .execute(
                "INSERT INTO builds (name, version, lock_hash, status, prefix, log_digest, error, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    record.name,
                    record.version.as_str(),
                    record.lock_hash,
                    record.status,
                    record.prefix,
                    record.log_digest,
                    record.error,
                    record.started_at,
                    record.finished_at
                ],
            )
            .map_err(StoreError::db("recording a build"))?;
        Ok(record)
    }

    /// The last build of a version.
    pub fn last_build(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<BuildRecord>, StoreError> {
        self.connection
            .query_row(
                "SELECT name, version, lock_hash, status, prefix, log_digest, error, started_at, finished_at
                 FROM builds WHERE name = ?1 AND version = ?2 ORDER BY id DESC LIMIT 1",
                params![name, version.as_str()],
                |row| {
                    Ok(BuildRecord {
                        name: row.get(0)?,
                        version: EnvironmentVersion::from_stored(row.get(1)?),
                        lock_hash: row.get(2)?,
                        status: row.get(3)?,
                        prefix: row.get(4)?,
                        log_digest: row.get(5)?,
                        error: row.get(6)?,
                        started_at: row.get(7)?,
                        finished_at: row.get(8)?,
                    })
                },
            )
            .optional()
            .map_err(StoreError::db("reading the last build"))
    }

    /// Every lock hash an environment version uses, with the versions using it.
    pub fn lock_users(&self) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT lock_hash, name, version FROM locks ORDER BY name, version")
            .map_err(StoreError::db("listing locks"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(StoreError::db("listing locks"))?;
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in rows {
            let (hash, name, version) = row.map_err(StoreError::db("listing locks"))?;
            users
                .entry(hash)
                .or_default()
                .push(format!("{name}:{version}"));
        }
        Ok(users)
    }

    /// Lock hashes something in the workspace still refers to (kept by `cache gc`).
    pub fn referenced_lock_hashes(&self) -> Result<HashSet<String>, StoreError> {
        let mut hashes: HashSet<String> = self.lock_users()?.into_keys().collect();
        hashes.extend(self.run_lock_hashes()?);
        hashes.extend(
            self.list_services()?
                .into_iter()
                .filter(|s| s.state != crate::DELETED)
                .filter_map(|s| s.lock_hash),
        );
        Ok(hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(n: usize) -> Lock {
        Lock {
            version: strata_spec::LOCK_FORMAT_VERSION,
            platform: "linux-64".to_string(),
            python: None,
            conda: Vec::new(),
            pypi: Vec::new(),
            pip_options: vec![format!("--index-url=https://index.invalid/{n}")],
            user_managed: None,
            base_image: None,
        }
    }

    #[test]
    fn the_latest_versions_come_with_their_locks_in_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut workspace = Workspace::init(dir.path()).unwrap();
        let register = |workspace: &mut Workspace, name: &str, image: &str| {
            let environment = strata_spec::Environment::from_docker_image(name, image, None).0;
            workspace
                .register_environment(environment, crate::RegisterOptions::default())
                .unwrap()
                .record
        };
        let old = register(&mut workspace, "alpha", "python:3.10-slim");
        let new = register(&mut workspace, "alpha", "python:3.11-slim");
        register(&mut workspace, "beta", "python:3.11-slim");
        workspace.set_lock("alpha", &old.version, &lock(1)).unwrap();
        let locked = workspace.set_lock("alpha", &new.version, &lock(2)).unwrap();
        let latest: Vec<_> = workspace
            .latest_locks(None, 1000)
            .unwrap()
            .into_iter()
            .filter(|latest| !latest.environment.curated)
            .map(|latest| {
                (
                    latest.environment.name,
                    latest.environment.version.as_str().to_string(),
                    latest.lock.map(|l| l.lock_hash),
                )
            })
            .collect();
        assert_eq!(
            latest,
            [
                ("alpha".to_string(), "2".to_string(), Some(locked.lock_hash)),
                ("beta".to_string(), "1".to_string(), None),
            ]
        );
        let next = workspace.latest_locks(Some("alpha"), 1).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].environment.name, "beta");
    }

    #[test]
    fn a_replaced_lock_is_the_only_one_its_version_is_found_by() {
        let dir = tempfile::tempdir().unwrap();
        let mut workspace = Workspace::init(dir.path()).unwrap();
        let environment =
            strata_spec::Environment::from_docker_image("alpha", "python:3.11-slim", None).0;
        let record = workspace
            .register_environment(environment, crate::RegisterOptions::default())
            .unwrap()
            .record;
        let with_package = |package: &str| Lock {
            pypi: vec![strata_spec::PypiLockedPackage {
                name: package.to_string(),
                version: "1.0".to_string(),
                source: strata_spec::PypiSource::Index {
                    url: "https://pypi.org/simple".to_string(),
                },
                hashes: Vec::new(),
            }],
            ..lock(1)
        };
        workspace
            .set_lock("alpha", &record.version, &with_package("mine"))
            .unwrap();
        let theirs = with_package("theirs");
        let replaced = workspace
            .replace_lock("alpha", &record.version, &theirs)
            .unwrap();
        assert_eq!(replaced.lock_hash, theirs.hash());
        let stored = workspace
            .get_lock("alpha", &record.version)
            .unwrap()
            .unwrap();
        assert_eq!(stored.lock_hash, theirs.hash());
        let uses = |package: &str| {
            workspace
                .package_uses(crate::PYPI, package, None, 10)
                .unwrap()
                .len()
        };
        assert_eq!(uses("mine"), 0, "the replaced lock is no longer indexed");
        assert_eq!(uses("theirs"), 1);
    }
}
