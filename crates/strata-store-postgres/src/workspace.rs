//! One workspace's records behind [`WorkspaceStore`], with the rules of the SQLite store
//! (checked by the conformance suite in `strata-store-tests`). Every change writes its audit row
//! in its own transaction.

use async_trait::async_trait;
use sqlx::{PgConnection, Row as _};
use strata_spec::{Environment, EnvironmentVersion, Lock};
use strata_store::store::{
    Actor, Cursor, CursorPage, EnvironmentQuery, LogChunk, RunQuery, RunUpdate, WorkspaceStore,
};
use strata_store::{
    BuildRecord, EnvironmentLabel, EnvironmentRecord, EnvironmentSummary, LatestLock, LockRecord,
    Metric, ModelRecord, PackageUse, RegisterOptions, Registration, RunJob, RunRecord,
    ServiceRecord, StoreError, TargetRecord,
};

use crate::audit;
use crate::error::db;
use crate::store::PostgresStore;

/// The records of one workspace, changed as one actor.
pub(crate) struct PgWorkspace {
    pub(crate) store: PostgresStore,
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) actor: Actor,
}

impl PgWorkspace {
    pub(crate) fn new(store: PostgresStore, id: i64, name: &str, actor: Actor) -> Self {
        Self {
            store,
            id,
            name: name.to_string(),
            actor,
        }
    }

    pub(crate) fn pool(&self) -> &sqlx::PgPool {
        &self.store.pool
    }

    pub(crate) async fn begin(
        &self,
        context: &str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        self.pool().begin().await.map_err(db(context))
    }

    /// Writes the audit row of a change, in the change's transaction.
    pub(crate) async fn audit(
        &self,
        connection: &mut PgConnection,
        action: &str,
        resource: &str,
    ) -> Result<(), StoreError> {
        audit::record(connection, &self.actor, Some(&self.name), action, resource).await
    }

    /// Refuses a record pointing at a blob this workspace was not granted (the server grants
    /// a blob once it holds its bytes).
    pub(crate) async fn require_blob(
        &self,
        connection: &mut PgConnection,
        digest: Option<&str>,
        what: impl FnOnce() -> String,
    ) -> Result<(), StoreError> {
        let Some(digest) = digest else {
            return Ok(());
        };
        let granted =
            sqlx::query("SELECT 1 FROM blob_grants WHERE workspace_id = $1 AND digest = $2")
                .bind(self.id)
                .bind(digest)
                .fetch_optional(connection)
                .await
                .map_err(db("checking a blob"))?
                .is_some();
        if granted {
            Ok(())
        } else {
            Err(StoreError::MissingBlob {
                what: what(),
                digest: digest.to_string(),
            })
        }
    }

    /// Locks the row of a versioned name (creating it first), so registrations of one name
    /// take turns until the transaction ends.
    pub(crate) async fn lock_name(
        &self,
        connection: &mut PgConnection,
        kind: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO name_locks (workspace_id, kind, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(self.id)
        .bind(kind)
        .bind(name)
        .execute(&mut *connection)
        .await
        .map_err(db("locking a name"))?;
        sqlx::query(
            "SELECT 1 FROM name_locks WHERE workspace_id = $1 AND kind = $2 AND name = $3 FOR UPDATE",
        )
        .bind(self.id)
        .bind(kind)
        .bind(name)
        .execute(connection)
        .await
        .map_err(db("locking a name"))?;
        Ok(())
    }

    /// The internal key of a run (its row, locked until the transaction ends when `lock`),
    /// or `NotFound`.
    pub(crate) async fn run_seq(
        &self,
        connection: &mut PgConnection,
        id: &str,
        lock: bool,
    ) -> Result<i64, StoreError> {
        let sql = if lock {
            "SELECT seq FROM runs WHERE workspace_id = $1 AND id = $2 FOR UPDATE"
        } else {
            "SELECT seq FROM runs WHERE workspace_id = $1 AND id = $2"
        };
        sqlx::query(sql)
            .bind(self.id)
            .bind(id)
            .fetch_optional(connection)
            .await
            .and_then(|row| row.map(|r| r.try_get::<i64, _>(0)).transpose())
            .map_err(db("reading a run"))?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("Run `{id}`"),
            })
    }
}

/// Decodes the cursor a client passed back.
pub(crate) fn after(cursor: Option<&str>) -> Result<Option<Cursor>, StoreError> {
    cursor.map(Cursor::decode).transpose()
}

/// How many rows to read for a page of `limit`: one more tells whether there is a next page.
pub(crate) fn fetch(limit: usize) -> i64 {
    i64::try_from(Cursor::clamp_limit(limit) + 1).unwrap_or(i64::MAX)
}

#[async_trait]
impl WorkspaceStore for PgWorkspace {
    fn location(&self) -> String {
        format!("{} (workspace `{}`)", self.store.location, self.name)
    }

    async fn register_environment(
        &self,
        environment: Environment,
        options: RegisterOptions,
    ) -> Result<Registration, StoreError> {
        self.register(environment, options).await
    }

    async fn get_environment(
        &self,
        name: &str,
        version: Option<&EnvironmentVersion>,
    ) -> Result<EnvironmentRecord, StoreError> {
        let mut connection = self
            .pool()
            .acquire()
            .await
            .map_err(db("reading an environment"))?;
        self.environment_in(&mut connection, name, version).await
    }

    async fn list_environments(
        &self,
        query: &EnvironmentQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentSummary>, StoreError> {
        self.environments(query, cursor, limit).await
    }

    async fn get_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<LockRecord>, StoreError> {
        let mut connection = self.pool().acquire().await.map_err(db("reading a lock"))?;
        self.lock_in(&mut connection, name, version).await
    }

    async fn set_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        lock: &Lock,
    ) -> Result<LockRecord, StoreError> {
        self.store_lock(name, version, lock).await
    }

    async fn latest_locks(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<LatestLock>, StoreError> {
        self.latest_locks_page(cursor, limit).await
    }

    async fn package_uses(
        &self,
        ecosystem: &str,
        package: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<PackageUse>, StoreError> {
        self.package_uses_page(ecosystem, package, cursor, limit)
            .await
    }

    async fn label_environment(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        labels: &[String],
    ) -> Result<(), StoreError> {
        self.label(name, version, labels).await
    }

    async fn labelled_version(
        &self,
        name: &str,
        label: &str,
    ) -> Result<EnvironmentVersion, StoreError> {
        self.labelled(name, label).await
    }

    async fn environment_labels(
        &self,
        name: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentLabel>, StoreError> {
        self.labels_page(name, cursor, limit).await
    }

    async fn record_build(&self, record: &BuildRecord) -> Result<(), StoreError> {
        self.build(record).await
    }

    async fn list_builds(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<BuildRecord>, StoreError> {
        self.builds(name, version, cursor, limit).await
    }

    async fn create_run(&self, run: &RunRecord) -> Result<RunRecord, StoreError> {
        self.new_run(run).await
    }

    async fn update_run(&self, id: &str, update: &RunUpdate) -> Result<RunRecord, StoreError> {
        self.run_update(id, update, None).await
    }

    async fn update_run_if_match(
        &self,
        id: &str,
        update: &RunUpdate,
        if_match: &str,
    ) -> Result<RunRecord, StoreError> {
        self.run_update(id, update, Some(if_match)).await
    }

    async fn get_run(&self, id: &str) -> Result<RunRecord, StoreError> {
        let mut connection = self.pool().acquire().await.map_err(db("reading a run"))?;
        self.run_in(&mut connection, id).await
    }

    async fn list_runs(
        &self,
        query: &RunQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<RunRecord>, StoreError> {
        self.runs(query, cursor, limit).await
    }

    async fn add_metrics(&self, id: &str, metrics: &[Metric]) -> Result<(), StoreError> {
        self.metrics_add(id, metrics).await
    }

    async fn run_metrics(&self, id: &str) -> Result<Vec<Metric>, StoreError> {
        self.metrics(id).await
    }

    async fn set_run_tag(
        &self,
        id: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        self.tag(id, key, value).await
    }

    async fn run_tags(&self, id: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        self.tags(id).await
    }

    async fn append_run_log(&self, id: &str, offset: u64, text: &str) -> Result<u64, StoreError> {
        self.log_append(id, offset, text).await
    }

    async fn read_run_log(&self, id: &str, offset: u64, max: u64) -> Result<LogChunk, StoreError> {
        self.log_read(id, offset, max).await
    }

    async fn register_model(&self, model: ModelRecord) -> Result<ModelRecord, StoreError> {
        self.model_register(model).await
    }

    async fn get_model(&self, name: &str, version: Option<u64>) -> Result<ModelRecord, StoreError> {
        self.model(name, version).await
    }

    async fn list_models(
        &self,
        all_versions: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ModelRecord>, StoreError> {
        self.models(all_versions, cursor, limit).await
    }

    async fn put_service(&self, service: &ServiceRecord) -> Result<(), StoreError> {
        self.service_put(service, None).await
    }

    async fn put_service_if_match(
        &self,
        service: &ServiceRecord,
        if_match: &str,
    ) -> Result<(), StoreError> {
        self.service_put(service, Some(if_match)).await
    }

    async fn get_service(&self, name: &str) -> Result<ServiceRecord, StoreError> {
        self.service(name).await
    }

    async fn list_services(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ServiceRecord>, StoreError> {
        self.services(cursor, limit).await
    }

    async fn attach_target(
        &self,
        name: &str,
        kind: &str,
        settings: &serde_json::Value,
    ) -> Result<TargetRecord, StoreError> {
        self.target_attach(name, kind, settings).await
    }

    async fn get_target(&self, name: &str) -> Result<TargetRecord, StoreError> {
        self.target(name).await
    }

    async fn list_targets(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<TargetRecord>, StoreError> {
        self.targets(cursor, limit).await
    }

    async fn detach_target(&self, name: &str) -> Result<(), StoreError> {
        self.target_detach(name).await
    }

    async fn set_run_job(&self, job: &RunJob) -> Result<(), StoreError> {
        self.job_set(job).await
    }

    async fn get_run_job(&self, run_id: &str) -> Result<Option<RunJob>, StoreError> {
        self.job(run_id).await
    }
}
