//! Models (versioned artifacts with their lineage) and services (deployments).

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use strata_store::store::{Cursor, CursorPage, state_tag, tag_matches};
use strata_store::{ModelRecord, ServiceRecord, StoreError, validate_model_name};

use crate::error::{corrupt, db};
use crate::workspace::{PgWorkspace, after, fetch};

pub(crate) const MODEL_COLUMNS: &str = "name, version, manifest, path, description, run_id, experiment, env_name, env_version, lock_hash, created_at";
pub(crate) const SERVICE_COLUMNS: &str = "name, state, host, port, env_name, env_version, lock_hash, models::text AS models, entry_script, source_dir, service_dir, config::text AS config, pid, pid_start, error, created_at, updated_at";

pub(crate) fn row_to_model(row: &PgRow) -> Result<ModelRecord, sqlx::Error> {
    Ok(ModelRecord {
        name: row.try_get("name")?,
        version: u64::try_from(row.try_get::<i64, _>("version")?).unwrap_or(0),
        manifest: row.try_get("manifest")?,
        path: row.try_get("path")?,
        description: row.try_get("description")?,
        run_id: row.try_get("run_id")?,
        experiment: row.try_get("experiment")?,
        env_name: row.try_get("env_name")?,
        env_version: row
            .try_get::<Option<String>, _>("env_version")?
            .map(strata_spec::EnvironmentVersion::from_stored),
        lock_hash: row.try_get("lock_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn row_to_service(row: &PgRow) -> Result<ServiceRecord, StoreError> {
    let read = || -> Result<(ServiceRecord, String, String), sqlx::Error> {
        let port: i32 = row.try_get("port")?;
        Ok((
            ServiceRecord {
                name: row.try_get("name")?,
                state: row.try_get("state")?,
                host: row.try_get("host")?,
                port: u16::try_from(port).unwrap_or(0),
                env_name: row.try_get("env_name")?,
                env_version: strata_spec::EnvironmentVersion::from_stored(
                    row.try_get("env_version")?,
                ),
                lock_hash: row.try_get("lock_hash")?,
                models: Vec::new(),
                entry_script: row.try_get("entry_script")?,
                source_dir: row.try_get("source_dir")?,
                service_dir: row.try_get("service_dir")?,
                config: strata_store::ServiceConfig {
                    workers: 1,
                    cpu_cores: None,
                    memory_gb: None,
                    timeout_ms: 60_000,
                    container: None,
                    model_dir: None,
                    cors_origins: Vec::new(),
                    health_port: None,
                    server_version_header: true,
                },
                pid: row.try_get("pid")?,
                pid_start: row.try_get("pid_start")?,
                error: row.try_get("error")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            },
            row.try_get("models")?,
            row.try_get("config")?,
        ))
    };
    let (mut service, models, config) = read().map_err(db("reading a service"))?;
    let what = format!("service {}", service.name);
    service.models = serde_json::from_str(&models).map_err(corrupt(what.clone()))?;
    service.config = serde_json::from_str(&config).map_err(corrupt(what))?;
    Ok(service)
}

impl PgWorkspace {
    /// Registers the next version of a model (one more than its highest), the name's row
    /// locked so concurrent registrations get consecutive versions.
    pub(crate) async fn model_register(
        &self,
        mut model: ModelRecord,
    ) -> Result<ModelRecord, StoreError> {
        let mut tx = self.begin("registering a model").await?;
        self.require_blob(&mut tx, Some(&model.manifest), || {
            format!("Model `{}`", model.name)
        })
        .await?;
        validate_model_name(&model.name)?;
        self.lock_name(&mut tx, "model", &model.name).await?;
        let latest: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) FROM models WHERE workspace_id = $1 AND name = $2",
        )
        .bind(self.id)
        .bind(&model.name)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db("registering a model"))?;
        model.version = u64::try_from(latest).unwrap_or(0) + 1;
        model.created_at = strata_store::now_millis();
        let sql = format!(
            "INSERT INTO models (workspace_id, {MODEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(&model.name)
            .bind(i64::try_from(model.version).unwrap_or(i64::MAX))
            .bind(&model.manifest)
            .bind(&model.path)
            .bind(&model.description)
            .bind(&model.run_id)
            .bind(&model.experiment)
            .bind(&model.env_name)
            .bind(
                model
                    .env_version
                    .as_ref()
                    .map(strata_spec::EnvironmentVersion::as_str),
            )
            .bind(&model.lock_hash)
            .bind(model.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db("registering a model"))?;
        self.audit(
            &mut tx,
            "model.register",
            &format!("models/{}/versions/{}", model.name, model.version),
        )
        .await?;
        tx.commit().await.map_err(db("registering a model"))?;
        Ok(model)
    }

    pub(crate) async fn model(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> Result<ModelRecord, StoreError> {
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE workspace_id = $1 AND name = $2
               AND ($3::bigint IS NULL OR version = $3)
             ORDER BY version DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(name)
            .bind(version.map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
            .fetch_optional(self.pool())
            .await
            .map_err(db("reading a model"))?;
        match row {
            Some(row) => row_to_model(&row).map_err(db("reading a model")),
            None => Err(StoreError::NotFound {
                what: match version {
                    Some(version) => format!("Model `{name}:{version}`"),
                    None => format!("Model `{name}`"),
                },
            }),
        }
    }

    pub(crate) async fn models(
        &self,
        all_versions: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ModelRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models
             WHERE workspace_id = $1
               AND ($2::text IS NULL OR name > $2 OR (name = $2 AND version > $3))
               AND ($4 OR version = (SELECT MAX(version) FROM models m WHERE m.workspace_id = $1 AND m.name = models.name))
             ORDER BY name, version LIMIT $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(after.as_ref().map(|c| c.key.clone()))
            .bind(after.as_ref().map_or(0, |c| c.id))
            .bind(all_versions)
            .bind(fetch(limit))
            .fetch_all(self.pool())
            .await
            .map_err(db("listing models"))?;
        let rows = rows
            .iter()
            .map(|row| {
                let model = row_to_model(row)?;
                let cursor = Cursor::new(
                    model.name.clone(),
                    i64::try_from(model.version).unwrap_or(i64::MAX),
                );
                Ok((model, cursor))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db("listing models"))?;
        Ok(Cursor::page(rows, limit))
    }

    /// Records a deployment or its new state; `created_at` is kept from the first time.
    ///
    /// With `if_match`, only over an existing service in the state it names, its row locked
    /// (`FOR UPDATE`) from the comparison to the commit, as in [`Self::run_update`].
    pub(crate) async fn service_put(
        &self,
        service: &ServiceRecord,
        if_match: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin("recording a service").await?;
        if let Some(if_match) = if_match {
            let sql = format!(
                "SELECT {SERVICE_COLUMNS} FROM services WHERE workspace_id = $1 AND name = $2 FOR UPDATE"
            );
            let current = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(self.id)
                .bind(&service.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading a service"))?
                .map(|row| row_to_service(&row))
                .transpose()?;
            if !current.is_some_and(|current| tag_matches(if_match, &state_tag(&current))) {
                return Err(StoreError::PreconditionFailed {
                    what: format!("Service `{}`", service.name),
                    expected: if_match.to_string(),
                });
            }
        }
        sqlx::query(
            "INSERT INTO services (workspace_id, name, state, host, port, env_name, env_version, lock_hash, models, entry_script, source_dir, service_dir, config, pid, pid_start, error, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::json, $10, $11, $12, $13::json, $14, $15, $16, $17, $17)
             ON CONFLICT (workspace_id, name) DO UPDATE SET state = excluded.state, host = excluded.host, port = excluded.port,
               env_name = excluded.env_name, env_version = excluded.env_version, lock_hash = excluded.lock_hash,
               models = excluded.models, entry_script = excluded.entry_script, source_dir = excluded.source_dir,
               service_dir = excluded.service_dir, config = excluded.config, pid = excluded.pid,
               pid_start = excluded.pid_start, error = excluded.error, updated_at = excluded.updated_at",
        )
        .bind(self.id)
        .bind(&service.name)
        .bind(&service.state)
        .bind(&service.host)
        .bind(i32::from(service.port))
        .bind(&service.env_name)
        .bind(service.env_version.as_str())
        .bind(&service.lock_hash)
        .bind(serde_json::to_string(&service.models).unwrap_or_default())
        .bind(&service.entry_script)
        .bind(&service.source_dir)
        .bind(&service.service_dir)
        .bind(serde_json::to_string(&service.config).unwrap_or_default())
        .bind(service.pid)
        .bind(&service.pid_start)
        .bind(&service.error)
        .bind(strata_store::now_millis())
        .execute(&mut *tx)
        .await
        .map_err(db("recording a service"))?;
        self.audit(
            &mut tx,
            "service.put",
            &format!("services/{}", service.name),
        )
        .await?;
        tx.commit().await.map_err(db("recording a service"))
    }

    pub(crate) async fn service(&self, name: &str) -> Result<ServiceRecord, StoreError> {
        let sql =
            format!("SELECT {SERVICE_COLUMNS} FROM services WHERE workspace_id = $1 AND name = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db("reading a service"))?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("Service `{name}`"),
            })?;
        row_to_service(&row)
    }

    pub(crate) async fn services(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ServiceRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?.map(|c| c.key);
        let sql = format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE workspace_id = $1
               AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(after)
            .bind(fetch(limit))
            .fetch_all(self.pool())
            .await
            .map_err(db("listing services"))?;
        let mut page = Vec::with_capacity(rows.len());
        for row in &rows {
            let service = row_to_service(row)?;
            let cursor = Cursor::new(service.name.clone(), 0);
            page.push((service, cursor));
        }
        Ok(Cursor::page(page, limit))
    }
}
