//! Deployed services: a model behind HTTP in an environment version.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::workspace::{Workspace, now_millis};

/// A service's state, as Azure ML's local web services report it.
pub const DEPLOYING: &str = "deploying";
pub const SERVICE_RUNNING: &str = "running";
pub const SERVICE_FAILED: &str = "failed";
pub const DELETED: &str = "deleted";

/// A model a service serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceModel {
    pub name: String,
    pub version: u64,
}

/// How a service runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConfig {
    pub workers: usize,
    pub cpu_cores: Option<f64>,
    pub memory_gb: Option<f64>,
    pub timeout_ms: u64,
    /// For a service in a container: its image (as podman names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// A directory exported as `AZUREML_MODEL_DIR` instead of the registered models' (azmlinfsrv's
    /// `--model_dir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_dir: Option<String>,
    /// Origins allowed by CORS (azmlinfsrv's `AML_CORS_ORIGINS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
    /// A separate port for health probes (azmlinfsrv's `HEALTH_PORT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_port: Option<u16>,
    /// Whether responses carry `x-ms-server-version`.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub server_version_header: bool,
}

fn yes() -> bool {
    true
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if signature"
)]
fn is_true(value: &bool) -> bool {
    *value
}

/// One service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    pub name: String,
    pub state: String,
    pub host: String,
    pub port: u16,
    pub env_name: String,
    pub env_version: strata_spec::EnvironmentVersion,
    pub lock_hash: Option<String>,
    pub models: Vec<ServiceModel>,
    /// Where the entry script and source directory were deployed from (for `reload`).
    pub entry_script: String,
    pub source_dir: Option<String>,
    pub service_dir: String,
    pub config: ServiceConfig,
    #[serde(skip)]
    pub pid: Option<i64>,
    #[serde(skip)]
    pub pid_start: Option<String>,
    pub error: Option<String>,
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub created_at: i64,
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub updated_at: i64,
}

impl ServiceRecord {
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("http://{host}:{}/score", self.port)
    }
}

pub(crate) const COLUMNS: &str = "name, state, host, port, env_name, env_version, lock_hash, models, entry_script, source_dir, service_dir, config, pid, pid_start, error, created_at, updated_at";

pub(crate) fn row_to_service(row: &rusqlite::Row<'_>) -> rusqlite::Result<ServiceRecord> {
    let models: String = row.get(7)?;
    let config: String = row.get(11)?;
    Ok(ServiceRecord {
        name: row.get(0)?,
        state: row.get(1)?,
        host: row.get(2)?,
        port: row.get(3)?,
        env_name: row.get(4)?,
        env_version: strata_spec::EnvironmentVersion::from_stored(row.get(5)?),
        lock_hash: row.get(6)?,
        models: serde_json::from_str(&models).unwrap_or_default(),
        entry_script: row.get(8)?,
        source_dir: row.get(9)?,
        service_dir: row.get(10)?,
        config: serde_json::from_str(&config).unwrap_or(ServiceConfig {
            workers: 1,
            cpu_cores: None,
            memory_gb: None,
            timeout_ms: 60_000,
            container: None,
            model_dir: None,
            cors_origins: Vec::new(),
            health_port: None,
            server_version_header: true,
        }),
        pid: row.get(12)?,
        pid_start: row.get(13)?,
        error: row.get(14)?,
        created_at: row.get(15)?,
        updated_at: row.get(16)?,
    })
}

impl Workspace {
    /// Records a service (a new one, or a redeployment of the name).
    pub fn put_service(&self, service: &ServiceRecord) -> Result<(), StoreError> {
        let now = now_millis();
        self.connection
            .execute(
                &format!(
                    "INSERT INTO services ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)
                     ON CONFLICT (name) DO UPDATE SET state = excluded.state, host = excluded.host, port = excluded.port,
                       env_name = excluded.env_name, env_version = excluded.env_version, lock_hash = excluded.lock_hash,
                       models = excluded.models, entry_script = excluded.entry_script, source_dir = excluded.source_dir,
                       service_dir = excluded.service_dir, config = excluded.config, pid = excluded.pid,
                       pid_start = excluded.pid_start, error = excluded.error, updated_at = excluded.updated_at"
                ),
                params![
                    service.name,
                    service.state,
                    service.host,
                    service.port,
                    service.env_name,
                    service.env_version.as_str(),
                    service.lock_hash,
                    serde_json::to_string(&service.models).unwrap_or_default(),
                    service.entry_script,
                    service.source_dir,
                    service.service_dir,
                    serde_json::to_string(&service.config).unwrap_or_default(),
                    service.pid,
                    service.pid_start,
                    service.error,
                    now
                ],
            )
            .map_err(StoreError::db("recording a service"))?;
        Ok(())
    }

    /// Sets a service's state, its server process and its error.
    pub fn set_service_state(
        &self,
        name: &str,
        state: &str,
        pid: Option<(u32, String)>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let (pid, start) = pid.map_or((None, None), |(p, s)| (Some(p), Some(s)));
        self.connection
            .execute(
                "UPDATE services SET state = ?2, pid = ?3, pid_start = ?4, error = ?5, updated_at = ?6 WHERE name = ?1",
                params![name, state, pid, start, error, now_millis()],
            )
            .map_err(StoreError::db("updating a service"))?;
        Ok(())
    }

    pub fn get_service(&self, name: &str) -> Result<ServiceRecord, StoreError> {
        self.connection
            .query_row(
                &format!("SELECT {COLUMNS} FROM services WHERE name = ?1"),
                params![name],
                row_to_service,
            )
            .optional()
            .map_err(StoreError::db("reading a service"))?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("Service `{name}`"),
            })
    }

    pub fn list_services(&self) -> Result<Vec<ServiceRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT {COLUMNS} FROM services ORDER BY name"))
            .map_err(StoreError::db("listing services"))?;
        let rows = statement
            .query_map([], row_to_service)
            .map_err(StoreError::db("listing services"))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::db("listing services"))
    }
}
