//! The embedded implementations: today's SQLite workspace and its blob directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rusqlite::params;
use strata_spec::{Environment, EnvironmentVersion, Lock};

use super::run_logs::{append_at, chunk_of, strata_std_log};
use super::{
    Cursor, CursorPage, EnvironmentQuery, LocalBlobs, LogChunk, RunQuery, RunUpdate,
    WorkspaceStore, state_tag, tag_matches,
};
use crate::{
    BlobStore, BuildRecord, EnvironmentLabel, EnvironmentRecord, EnvironmentSummary, LatestLock,
    LockRecord, Metric, ModelRecord, PackageUse, RegisterOptions, Registration, RunJob, RunRecord,
    ServiceRecord, StoreError, TargetRecord, Workspace,
};

/// A workspace directory behind [`WorkspaceStore`]. Calls run on the caller's thread: SQLite
/// answers in microseconds, and the CLI is the only user.
#[derive(Clone)]
pub struct SqliteStore {
    workspace: Arc<Mutex<Workspace>>,
    root: PathBuf,
}

impl SqliteStore {
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        Ok(Self::new(Workspace::open(root)?))
    }

    pub fn new(workspace: Workspace) -> Self {
        let root = workspace.root().to_path_buf();
        Self {
            workspace: Arc::new(Mutex::new(workspace)),
            root,
        }
    }

    /// The blobs of this workspace.
    pub fn blobs(&self) -> LocalBlobs {
        LocalBlobs::new(BlobStore::new(self.root.join("blobs")))
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Workspace> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.workspace
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn require_blob(
        workspace: &Workspace,
        digest: Option<&str>,
        what: impl FnOnce() -> String,
    ) -> Result<(), StoreError> {
        match digest {
            Some(digest) if !workspace.blobs().contains(digest) => Err(StoreError::MissingBlob {
                what: what(),
                digest: digest.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

fn after(cursor: Option<&str>) -> Result<Option<Cursor>, StoreError> {
    cursor.map(Cursor::decode).transpose()
}

fn fetch(limit: usize) -> i64 {
    i64::try_from(Cursor::clamp_limit(limit) + 1).unwrap_or(i64::MAX)
}

#[async_trait]
impl WorkspaceStore for SqliteStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    async fn register_environment(
        &self,
        environment: Environment,
        options: RegisterOptions,
    ) -> Result<Registration, StoreError> {
        self.lock().register_environment(environment, options)
    }

    async fn get_environment(
        &self,
        name: &str,
        version: Option<&EnvironmentVersion>,
    ) -> Result<EnvironmentRecord, StoreError> {
        self.lock().get_environment(name, version)
    }

    async fn list_environments(
        &self,
        query: &EnvironmentQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentSummary>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let workspace = self.lock();
        let latest_only = if query.all_versions {
            ""
        } else {
            "AND e.id IN (SELECT MAX(id) FROM environments GROUP BY name)"
        };
        let sql = format!(
            "SELECT {columns}, e.id FROM environments e
             WHERE (?1 OR e.anonymous = 0)
               AND (?2 IS NULL OR substr(e.name, 1, length(?2)) = ?2)
               AND (?3 IS NULL OR e.name = ?3)
               AND (?4 IS NULL OR e.name > ?4 OR (e.name = ?4 AND e.id > ?5))
               {latest_only}
             ORDER BY e.name, e.id LIMIT ?6",
            columns = crate::environments::COLUMNS
                .split(", ")
                .map(|c| format!("e.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut statement = workspace
            .connection
            .prepare(&sql)
            .map_err(StoreError::db("listing environments"))?;
        let rows = statement
            .query_map(
                params![
                    query.include_anonymous,
                    query.prefix,
                    query.name,
                    after.as_ref().map(|c| c.key.clone()),
                    after.as_ref().map_or(0, |c| c.id),
                    fetch(limit)
                ],
                |row| {
                    let summary = crate::environments::row_to_summary(row)?;
                    let id: i64 = row.get(8)?;
                    // Latest versions only: one item per name, so the next page starts after
                    // the name; a version registered meanwhile must not bring it back.
                    let id = if query.all_versions { id } else { i64::MAX };
                    let cursor = Cursor::new(summary.name.clone(), id);
                    Ok((summary, cursor))
                },
            )
            .map_err(StoreError::db("listing environments"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::db("listing environments"))?;
        Ok(Cursor::page(rows, limit))
    }

    async fn get_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<LockRecord>, StoreError> {
        self.lock().get_lock(name, version)
    }

    async fn set_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        lock: &Lock,
    ) -> Result<LockRecord, StoreError> {
        let mut workspace = self.lock();
        workspace.get_environment(name, Some(version))?;
        workspace.set_lock(name, version, lock)
    }

    async fn latest_locks(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<LatestLock>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let rows = self
            .lock()
            .latest_locks(after.as_ref().map(|c| c.key.as_str()), limit + 1)?
            .into_iter()
            .map(|latest| {
                let cursor = Cursor::new(latest.environment.name.clone(), 0);
                (latest, cursor)
            })
            .collect();
        Ok(Cursor::page(rows, limit))
    }

    async fn package_uses(
        &self,
        ecosystem: &str,
        package: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<PackageUse>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let position = after.as_ref().map(Cursor::pair).transpose()?;
        let rows = self
            .lock()
            .package_uses(ecosystem, package, position, limit + 1)?
            .into_iter()
            .map(|usage| {
                let cursor = Cursor::of_pair(&usage.env_name, usage.env_version.as_str());
                (usage, cursor)
            })
            .collect();
        Ok(Cursor::page(rows, limit))
    }

    async fn label_environment(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        labels: &[String],
    ) -> Result<(), StoreError> {
        self.lock().label_environment(name, version, labels)
    }

    async fn labelled_version(
        &self,
        name: &str,
        label: &str,
    ) -> Result<EnvironmentVersion, StoreError> {
        let workspace = self.lock();
        workspace.get_environment(name, None)?;
        workspace.labelled_version(name, label)
    }

    async fn environment_labels(
        &self,
        name: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentLabel>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let workspace = self.lock();
        workspace.get_environment(name, None)?;
        let rows = workspace
            .environment_labels(name)?
            .into_iter()
            .filter(|(label, _)| after.as_ref().is_none_or(|after| *label > after.key))
            .take(limit + 1)
            .map(|(label, version)| {
                let cursor = Cursor::new(label.clone(), 0);
                (EnvironmentLabel { label, version }, cursor)
            })
            .collect();
        Ok(Cursor::page(rows, limit))
    }

    async fn record_build(&self, record: &BuildRecord) -> Result<(), StoreError> {
        let workspace = self.lock();
        workspace.get_environment(&record.name, Some(&record.version))?;
        Self::require_blob(&workspace, record.log_digest.as_deref(), || {
            format!("The build of `{}:{}`", record.name, record.version)
        })?;
        workspace
            .connection
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
        Ok(())
    }

    async fn list_builds(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<BuildRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let workspace = self.lock();
        let mut statement = workspace
            .connection
            .prepare(
                "SELECT id, name, version, lock_hash, status, prefix, log_digest, error, started_at, finished_at
                 FROM builds WHERE name = ?1 AND version = ?2 AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4",
            )
            .map_err(StoreError::db("listing builds"))?;
        let rows = statement
            .query_map(
                params![name, version.as_str(), after.map(|c| c.id), fetch(limit)],
                |row| {
                    let id: i64 = row.get(0)?;
                    Ok((
                        BuildRecord {
                            name: row.get(1)?,
                            version: EnvironmentVersion::from_stored(row.get(2)?),
                            lock_hash: row.get(3)?,
                            status: row.get(4)?,
                            prefix: row.get(5)?,
                            log_digest: row.get(6)?,
                            error: row.get(7)?,
                            started_at: row.get(8)?,
                            finished_at: row.get(9)?,
                        },
                        Cursor::new("", id),
                    ))
                },
            )
            .map_err(StoreError::db("listing builds"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::db("listing builds"))?;
        Ok(Cursor::page(rows, limit))
    }

    async fn create_run(&self, run: &RunRecord) -> Result<RunRecord, StoreError> {
        let workspace = self.lock();
        Self::require_blob(&workspace, run.snapshot.as_deref(), || {
            format!("The snapshot of run `{}`", run.id)
        })?;
        workspace.create_run(run)?;
        workspace.get_run(&run.id)
    }

    async fn update_run(&self, id: &str, update: &RunUpdate) -> Result<RunRecord, StoreError> {
        update_run_in(&self.lock(), id, update)
    }

    async fn update_run_if_match(
        &self,
        id: &str,
        update: &RunUpdate,
        if_match: &str,
    ) -> Result<RunRecord, StoreError> {
        let workspace = self.lock();
        // `BEGIN IMMEDIATE` takes SQLite's write lock before the read, so another process
        // cannot change the run between the comparison and the write.
        immediate(&workspace, || {
            let current = workspace.get_run(id)?;
            if !tag_matches(if_match, &state_tag(&current)) {
                return Err(StoreError::PreconditionFailed {
                    what: format!("Run `{id}`"),
                    expected: if_match.to_string(),
                });
            }
            update_run_in(&workspace, id, update)
        })
    }

    async fn get_run(&self, id: &str) -> Result<RunRecord, StoreError> {
        self.lock().get_run(id)
    }

    async fn list_runs(
        &self,
        query: &RunQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<RunRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let workspace = self.lock();
        let sql = format!(
            "SELECT {columns}, rowid FROM runs
             WHERE (?1 IS NULL OR experiment = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR queued_at < ?3 OR (queued_at = ?3 AND rowid < ?4))
             ORDER BY queued_at DESC, rowid DESC LIMIT ?5",
            columns = crate::runs::COLUMNS
        );
        let mut statement = workspace
            .connection
            .prepare(&sql)
            .map_err(StoreError::db("listing runs"))?;
        let rows = statement
            .query_map(
                params![
                    query.experiment,
                    query.status,
                    after.as_ref().map(|c| c.key.parse::<i64>().unwrap_or(0)),
                    after.as_ref().map_or(0, |c| c.id),
                    fetch(limit)
                ],
                |row| {
                    let run = crate::runs::row_to_run(row)?;
                    let id: i64 = row.get(25)?;
                    let cursor = Cursor::new(run.queued_at.to_string(), id);
                    Ok((run, cursor))
                },
            )
            .map_err(StoreError::db("listing runs"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::db("listing runs"))?;
        Ok(Cursor::page(rows, limit))
    }

    async fn add_metrics(&self, id: &str, metrics: &[Metric]) -> Result<(), StoreError> {
        let mut workspace = self.lock();
        workspace.get_run(id)?;
        workspace.add_metrics(id, metrics)
    }

    async fn run_metrics(&self, id: &str) -> Result<Vec<Metric>, StoreError> {
        let workspace = self.lock();
        workspace.get_run(id)?;
        workspace.run_metrics(id)
    }

    async fn set_run_tag(
        &self,
        id: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let workspace = self.lock();
        workspace.get_run(id)?;
        workspace.set_run_tag(id, key, value)
    }

    async fn run_tags(&self, id: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let workspace = self.lock();
        workspace.get_run(id)?;
        workspace.run_tags(id)
    }

    async fn append_run_log(&self, id: &str, offset: u64, text: &str) -> Result<u64, StoreError> {
        let workspace = self.lock();
        let run = workspace.get_run(id)?;
        let path = PathBuf::from(&run.run_dir).join(strata_std_log());
        append_at(&path, id, offset, text)
    }

    async fn read_run_log(&self, id: &str, offset: u64, max: u64) -> Result<LogChunk, StoreError> {
        let workspace = self.lock();
        let run = workspace.get_run(id)?;
        let path = PathBuf::from(&run.run_dir).join(strata_std_log());
        let bytes = match fs_err::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => workspace
                .stored_log(run.logs.as_deref())?
                .unwrap_or_default(),
            Err(error) => return Err(StoreError::io(&path)(error)),
        };
        Ok(chunk_of(&bytes, offset, max))
    }

    async fn register_model(&self, model: ModelRecord) -> Result<ModelRecord, StoreError> {
        let mut workspace = self.lock();
        Self::require_blob(&workspace, Some(&model.manifest), || {
            format!("Model `{}`", model.name)
        })?;
        workspace.register_model(model)
    }

    async fn get_model(&self, name: &str, version: Option<u64>) -> Result<ModelRecord, StoreError> {
        self.lock().get_model(name, version)
    }

    async fn list_models(
        &self,
        all_versions: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ModelRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let workspace = self.lock();
        let latest = if all_versions {
            ""
        } else {
            "AND version = (SELECT MAX(version) FROM models m WHERE m.name = models.name)"
        };
        let sql = format!(
            "SELECT {columns} FROM models
             WHERE (?1 IS NULL OR name > ?1 OR (name = ?1 AND version > ?2)) {latest}
             ORDER BY name, version LIMIT ?3",
            columns = crate::models::COLUMNS
        );
        let mut statement = workspace
            .connection
            .prepare(&sql)
            .map_err(StoreError::db("listing models"))?;
        let rows = statement
            .query_map(
                params![
                    after.as_ref().map(|c| c.key.clone()),
                    after.as_ref().map_or(0, |c| c.id),
                    fetch(limit)
                ],
                |row| {
                    let model = crate::models::row_to_model(row)?;
                    let cursor = Cursor::new(
                        model.name.clone(),
                        i64::try_from(model.version).unwrap_or(i64::MAX),
                    );
                    Ok((model, cursor))
                },
            )
            .map_err(StoreError::db("listing models"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::db("listing models"))?;
        Ok(Cursor::page(rows, limit))
    }

    async fn put_service(&self, service: &ServiceRecord) -> Result<(), StoreError> {
        self.lock().put_service(service)
    }

    async fn put_service_if_match(
        &self,
        service: &ServiceRecord,
        if_match: &str,
    ) -> Result<(), StoreError> {
        let workspace = self.lock();
        immediate(&workspace, || {
            let what = || format!("Service `{}`", service.name);
            let current = match workspace.get_service(&service.name) {
                Ok(current) => current,
                Err(StoreError::NotFound { .. }) => {
                    return Err(StoreError::PreconditionFailed {
                        what: what(),
                        expected: if_match.to_string(),
                    });
                }
                Err(error) => return Err(error),
            };
            if !tag_matches(if_match, &state_tag(&current)) {
                return Err(StoreError::PreconditionFailed {
                    what: what(),
                    expected: if_match.to_string(),
                });
            }
            workspace.put_service(service)
        })
    }

    async fn get_service(&self, name: &str) -> Result<ServiceRecord, StoreError> {
        self.lock().get_service(name)
    }

    async fn list_services(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ServiceRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?.map(|c| c.key);
        let services = self.lock().list_services()?;
        let rows = services
            .into_iter()
            .filter(|s| after.as_ref().is_none_or(|a| s.name > *a))
            .take(limit + 1)
            .map(|s| {
                let cursor = Cursor::new(s.name.clone(), 0);
                (s, cursor)
            })
            .collect();
        Ok(Cursor::page(rows, limit))
    }

    async fn attach_target(
        &self,
        name: &str,
        kind: &str,
        settings: &serde_json::Value,
    ) -> Result<TargetRecord, StoreError> {
        self.lock().attach_target(name, kind, settings)
    }

    async fn get_target(&self, name: &str) -> Result<TargetRecord, StoreError> {
        self.lock().get_target(name)
    }

    async fn list_targets(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<TargetRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?.map(|c| c.key);
        let targets = self.lock().list_targets()?;
        let rows = targets
            .into_iter()
            .filter(|t| !t.builtin && after.as_ref().is_none_or(|a| t.name > *a))
            .take(limit + 1)
            .map(|t| {
                let cursor = Cursor::new(t.name.clone(), 0);
                (t, cursor)
            })
            .collect();
        Ok(Cursor::page(rows, limit))
    }

    async fn detach_target(&self, name: &str) -> Result<(), StoreError> {
        self.lock().detach_target(name)
    }

    async fn set_run_job(&self, job: &RunJob) -> Result<(), StoreError> {
        let workspace = self.lock();
        workspace.get_run(&job.run_id)?;
        workspace.set_run_job(job)
    }

    async fn get_run_job(&self, run_id: &str) -> Result<Option<RunJob>, StoreError> {
        let workspace = self.lock();
        workspace.get_run(run_id)?;
        workspace.get_run_job(run_id)
    }
}

/// A run moved on, in `workspace` (locked by the caller).
fn update_run_in(
    workspace: &Workspace,
    id: &str,
    update: &RunUpdate,
) -> Result<RunRecord, StoreError> {
    let run = workspace.get_run(id)?;
    let now = crate::now_millis();
    let (sql, values): (&str, Vec<rusqlite::types::Value>) = match update {
        RunUpdate::Preparing => (
            "UPDATE runs SET status = ?2, preparing_at = ?3 WHERE id = ?1",
            vec![crate::PREPARING.to_string().into(), now.into()],
        ),
        RunUpdate::Prepared { lock_hash, image } => (
            "UPDATE runs SET lock_hash = ?2, image = COALESCE(?3, image) WHERE id = ?1",
            vec![lock_hash.clone().into(), image.clone().into()],
        ),
        RunUpdate::Running => (
            "UPDATE runs SET status = ?2, started_at = ?3 WHERE id = ?1",
            vec![crate::RUNNING.to_string().into(), now.into()],
        ),
        RunUpdate::Finished {
            status,
            exit_code,
            error,
            outputs,
            logs,
        } => {
            crate::store::check_finished_status(status)?;
            for digest in [outputs, logs].into_iter().flatten() {
                SqliteStore::require_blob(workspace, Some(digest), || format!("Run `{id}`"))?;
            }
            workspace.run_finished(
                id,
                status,
                *exit_code,
                error.as_deref(),
                outputs.as_deref(),
                logs.as_deref(),
            )?;
            return workspace.get_run(id);
        }
        RunUpdate::Files { .. } if run.is_finished() => return Ok(run),
        RunUpdate::Files { outputs, logs } => {
            for digest in [outputs, logs].into_iter().flatten() {
                SqliteStore::require_blob(workspace, Some(digest), || format!("Run `{id}`"))?;
            }
            (
                "UPDATE runs SET outputs = COALESCE(?2, outputs), logs = COALESCE(?3, logs) WHERE id = ?1",
                vec![outputs.clone().into(), logs.clone().into()],
            )
        }
        RunUpdate::CancelRequested => {
            workspace.request_cancel(id)?;
            return workspace.get_run(id);
        }
    };
    if run.is_finished() {
        return Ok(run);
    }
    let mut all: Vec<rusqlite::types::Value> = vec![id.to_string().into()];
    all.extend(values);
    workspace
        .connection
        .execute(sql, rusqlite::params_from_iter(all))
        .map_err(StoreError::db("updating a run"))?;
    workspace.get_run(id)
}

/// Runs `body` in a `BEGIN IMMEDIATE` transaction: committed when it succeeds, rolled back
/// when it fails.
fn immediate<T>(
    workspace: &Workspace,
    body: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    workspace
        .connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(StoreError::db("starting a conditional change"))?;
    match body() {
        Ok(value) => {
            workspace
                .connection
                .execute_batch("COMMIT")
                .map_err(StoreError::db("committing a conditional change"))?;
            Ok(value)
        }
        Err(error) => {
            let _ = workspace.connection.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}
