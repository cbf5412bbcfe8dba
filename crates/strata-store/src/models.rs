//! The model registry: versioned artifacts with their lineage.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::workspace::{Workspace, now_millis};

/// One model version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelRecord {
    pub name: String,
    pub version: u64,
    /// Manifest digest of its files.
    pub manifest: String,
    /// The file or directory name the model was registered from.
    pub path: String,
    pub description: Option<String>,
    pub run_id: Option<String>,
    pub experiment: Option<String>,
    pub env_name: Option<String>,
    pub env_version: Option<strata_spec::EnvironmentVersion>,
    pub lock_hash: Option<String>,
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub created_at: i64,
}

pub(crate) const COLUMNS: &str = "name, version, manifest, path, description, run_id, experiment, env_name, env_version, lock_hash, created_at";

pub(crate) fn row_to_model(row: &rusqlite::Row<'_>) -> rusqlite::Result<ModelRecord> {
    Ok(ModelRecord {
        name: row.get(0)?,
        version: row.get(1)?,
        manifest: row.get(2)?,
        path: row.get(3)?,
        description: row.get(4)?,
        run_id: row.get(5)?,
        experiment: row.get(6)?,
        env_name: row.get(7)?,
        env_version: row
            .get::<_, Option<String>>(8)?
            .map(strata_spec::EnvironmentVersion::from_stored),
        lock_hash: row.get(9)?,
        created_at: row.get(10)?,
    })
}

/// `^[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}$`, Azure ML's rule for model names.
pub fn validate_model_name(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidModelName {
            name: name.to_string(),
            reason: "model names start with a letter or digit and use only letters, digits, `-`, `.` and `_` (at most 255)".to_string(),
        })
    }
}

impl Workspace {
    /// Registers the next version of a model (every registration is a new version).
    pub fn register_model(&mut self, mut model: ModelRecord) -> Result<ModelRecord, StoreError> {
        validate_model_name(&model.name)?;
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::db("registering a model"))?;
        let latest: u64 = transaction
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM models WHERE name = ?1",
                params![model.name],
                |row| row.get(0),
            )
            .map_err(StoreError::db("registering a model"))?;
        model.version = latest + 1;
        model.created_at = now_millis();
        transaction
            .execute(
                &format!("INSERT INTO models ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                params![
                    model.name,
                    model.version,
                    model.manifest,
                    model.path,
                    model.description,
                    model.run_id,
                    model.experiment,
                    model.env_name,
                    model.env_version.as_ref().map(strata_spec::EnvironmentVersion::as_str),
                    model.lock_hash,
                    model.created_at
                ],
            )
            .map_err(StoreError::db("registering a model"))?;
        transaction
            .commit()
            .map_err(StoreError::db("registering a model"))?;
        Ok(model)
    }

    /// Stores a model version as another workspace numbered it (a working copy of a shared
    /// workspace mirrors its versions); the same version again is a no-op, the same number
    /// with other files a conflict.
    pub fn import_model(&mut self, model: &ModelRecord) -> Result<(), StoreError> {
        validate_model_name(&model.name)?;
        if let Ok(existing) = self.get_model(&model.name, Some(model.version)) {
            if existing.manifest == model.manifest {
                return Ok(());
            }
            return Err(StoreError::InvalidReference {
                reference: format!("{}:{}", model.name, model.version),
                reason: "this workspace already has that model version with other files"
                    .to_string(),
            });
        }
        self.connection
            .execute(
                &format!("INSERT INTO models ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                params![
                    model.name,
                    model.version,
                    model.manifest,
                    model.path,
                    model.description,
                    model.run_id,
                    model.experiment,
                    model.env_name,
                    model.env_version.as_ref().map(strata_spec::EnvironmentVersion::as_str),
                    model.lock_hash,
                    model.created_at
                ],
            )
            .map_err(StoreError::db("importing a model"))?;
        Ok(())
    }

    /// A version, or the latest.
    pub fn get_model(&self, name: &str, version: Option<u64>) -> Result<ModelRecord, StoreError> {
        let row = match version {
            Some(version) => self.connection.query_row(
                &format!("SELECT {COLUMNS} FROM models WHERE name = ?1 AND version = ?2"),
                params![name, version],
                row_to_model,
            ),
            None => self.connection.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM models WHERE name = ?1 ORDER BY version DESC LIMIT 1"
                ),
                params![name],
                row_to_model,
            ),
        }
        .optional()
        .map_err(StoreError::db("reading a model"))?;
        row.ok_or_else(|| StoreError::NotFound {
            what: match version {
                Some(version) => format!("Model `{name}:{version}`"),
                None => format!("Model `{name}`"),
            },
        })
    }

    /// The latest version of each model, or every version.
    pub fn list_models(&self, all_versions: bool) -> Result<Vec<ModelRecord>, StoreError> {
        let sql = if all_versions {
            format!("SELECT {COLUMNS} FROM models ORDER BY name, version")
        } else {
            format!(
                "SELECT {COLUMNS} FROM models m JOIN (SELECT name AS n, MAX(version) AS v FROM models GROUP BY name) ON m.name = n AND m.version = v ORDER BY name"
            )
        };
        let mut statement = self
            .connection
            .prepare(&sql)
            .map_err(StoreError::db("listing models"))?;
        let rows = statement
            .query_map([], row_to_model)
            .map_err(StoreError::db("listing models"))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::db("listing models"))
    }
}
