//! The versioned environment registry.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use strata_spec::{
    Environment, MatchSpec, Metadata, SpecHash, V1Files, curated_environments, is_curated_name,
    is_variable_reference, validate_name,
};

use crate::error::StoreError;
use crate::workspace::{Workspace, now_millis};

/// One registered version of an environment.
#[derive(Debug, Clone)]
pub struct EnvironmentRecord {
    pub name: String,
    pub version: u64,
    pub spec_hash: SpecHash,
    pub environment: Environment,
    pub summary: EnvironmentSummary,
}

/// What lists show about a version, read without parsing its definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSummary {
    pub name: String,
    pub version: u64,
    pub spec_hash: String,
    /// `pip`, `conda`, `image`, `dockerfile` or `user-managed`.
    pub kind: String,
    pub description: Option<String>,
    pub curated: bool,
    pub anonymous: bool,
    /// Milliseconds since the Unix epoch; RFC 3339 in JSON.
    #[serde(serialize_with = "crate::workspace::serialize_time")]
    pub created_at: i64,
}

/// The outcome of a registration.
#[derive(Debug, Clone)]
pub struct Registration {
    pub record: EnvironmentRecord,
    /// False when an identical definition was already the latest version (or the explicit one).
    pub created: bool,
    pub warnings: Vec<String>,
}

/// How to register.
#[derive(Debug, Clone, Copy, Default)]
pub struct RegisterOptions {
    /// Registered for a run or deployment; hidden from `env list` unless asked for.
    pub anonymous: bool,
}

/// What the definition column holds: the v1 files plus v2-only metadata.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredDefinition {
    environment_json: String,
    conda_dependencies: Option<String>,
    base_dockerfile: Option<String>,
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    metadata: Metadata,
}

impl Workspace {
    /// Registers a definition: the latest version when its spec hash is unchanged, otherwise
    /// `latest + 1` (or the explicit `version` of the definition). One transaction: concurrent
    /// registrations of one definition make one version, of different ones consecutive versions.
    pub fn register_environment(
        &mut self,
        environment: Environment,
        options: RegisterOptions,
    ) -> Result<Registration, StoreError> {
        let name = environment.name.clone().unwrap_or_default();
        validate_name(&name)?;
        self.insert_environment(environment, options, false)
    }

    fn insert_environment(
        &mut self,
        environment: Environment,
        options: RegisterOptions,
        curated: bool,
    ) -> Result<Registration, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::db("starting a registration"))?;
        let registration = insert_in(&transaction, environment, options, curated, false)?;
        transaction
            .commit()
            .map_err(StoreError::db("committing the registration"))?;
        Ok(registration)
    }

    /// A version, or the latest version when `version` is `None`.
    pub fn get_environment(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> Result<EnvironmentRecord, StoreError> {
        get_in(&self.connection, name, version)
    }

    /// The latest version of every environment, or every version; anonymous ones only when
    /// asked for. Sorted by name, then version.
    pub fn list_environments(
        &self,
        all_versions: bool,
        include_anonymous: bool,
    ) -> Result<Vec<EnvironmentSummary>, StoreError> {
        let filter = if include_anonymous {
            ""
        } else {
            "WHERE e.anonymous = 0"
        };
        let sql = if all_versions {
            format!("SELECT {COLUMNS} FROM environments e {filter} ORDER BY name, version")
        } else {
            // The grouped MAX walks the primary key once; a correlated subquery per row does not.
            format!(
                "SELECT {COLUMNS} FROM environments e
                 JOIN (SELECT name AS latest_name, MAX(version) AS latest_version FROM environments GROUP BY name)
                   ON e.name = latest_name AND e.version = latest_version
                 {filter}
                 ORDER BY name"
            )
        };
        let mut statement = self
            .connection
            .prepare(&sql)
            .map_err(StoreError::db("listing environments"))?;
        let rows = statement
            .query_map([], row_to_summary)
            .map_err(StoreError::db("listing environments"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::db("listing environments"))
    }

    /// Makes sure the curated environments of this build exist, at their versions.
    pub(crate) fn seed_curated(&mut self) -> Result<(), StoreError> {
        let curated = curated_environments();
        let present: i64 = {
            let mut statement = self
                .connection
                .prepare_cached("SELECT COUNT(*) FROM environments WHERE name = ?1 AND version = ?2 AND curated = 1")
                .map_err(StoreError::db("checking curated environments"))?;
            let mut count = 0;
            for (name, version, _) in &curated {
                count += statement
                    .query_row(params![name, version], |row| row.get::<_, i64>(0))
                    .map_err(StoreError::db("checking curated environments"))?;
            }
            count
        };
        if usize::try_from(present).unwrap_or(0) == curated.len() {
            return Ok(());
        }
        for (name, version, environment) in curated {
            let exists: bool = self
                .connection
                .query_row(
                    "SELECT 1 FROM environments WHERE name = ?1 AND version = ?2",
                    params![name, version],
                    |_| Ok(true),
                )
                .optional()
                .map_err(StoreError::db("checking curated environments"))?
                .unwrap_or(false);
            if !exists {
                self.insert_environment(environment, RegisterOptions::default(), true)?;
            }
        }
        Ok(())
    }

    /// Copies an environment (curated or not) under a new name: Azure ML's `clone()`.
    pub fn copy_environment(
        &mut self,
        source: &str,
        version: Option<u64>,
        new_name: &str,
    ) -> Result<Registration, StoreError> {
        let mut environment = self.get_environment(source, version)?.environment;
        environment.name = Some(new_name.to_string());
        environment.version = None;
        environment.asset_id = None;
        self.register_environment(environment, RegisterOptions::default())
    }

    /// Registers a changed copy of the latest (or given) version, the read and the write in
    /// one transaction so concurrent changes each see the one before (no lost update).
    pub fn update_environment(
        &mut self,
        name: &str,
        version: Option<u64>,
        change: impl FnOnce(&mut Environment) -> Result<(), StoreError>,
    ) -> Result<Registration, StoreError> {
        if is_curated_name(name) {
            return Err(StoreError::Curated {
                name: name.to_string(),
            });
        }
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::db("starting an update"))?;
        let mut environment = get_in(&transaction, name, version)?.environment;
        environment.version = None;
        change(&mut environment)?;
        let registration = insert_in(
            &transaction,
            environment,
            RegisterOptions::default(),
            false,
            false,
        )?;
        transaction
            .commit()
            .map_err(StoreError::db("committing the update"))?;
        Ok(registration)
    }
}

const COLUMNS: &str = "name, version, spec_hash, kind, description, curated, anonymous, created_at";

fn row_to_summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<EnvironmentSummary> {
    Ok(EnvironmentSummary {
        name: row.get(0)?,
        version: row.get(1)?,
        spec_hash: row.get(2)?,
        kind: row.get(3)?,
        description: row.get(4)?,
        curated: row.get(5)?,
        anonymous: row.get(6)?,
        created_at: row.get(7)?,
    })
}

fn row_to_summary_and_definition(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(EnvironmentSummary, String)> {
    Ok((row_to_summary(row)?, row.get(8)?))
}

fn kind_of(environment: &Environment) -> String {
    let docker = &environment.docker;
    let kind = if docker.base_dockerfile.is_some() || docker.build_context.is_some() {
        "dockerfile"
    } else if docker.base_image.is_some() {
        "image"
    } else if environment.python.user_managed_dependencies {
        "user-managed"
    } else if environment.conda().is_some_and(|conda| {
        !conda.channels.is_empty()
            || conda.conda_packages().any(|spec| {
                MatchSpec::parse(spec)
                    .is_ok_and(|m| !matches!(m.normalized_name().as_str(), "python" | "pip"))
            })
    }) {
        "conda"
    } else {
        "pip"
    };
    kind.to_string()
}

/// Registers within a write transaction (see [`Workspace::register_environment`]).
pub(crate) fn insert_in(
    connection: &Connection,
    mut environment: Environment,
    options: RegisterOptions,
    curated: bool,
    force_new: bool,
) -> Result<Registration, StoreError> {
    let name = environment.name.clone().unwrap_or_default();
    let found = environment.embedded_credentials();
    if !found.is_empty() {
        return Err(StoreError::Credentials { found });
    }
    if let Some(conda) = environment.conda() {
        conda.check_pip_entries(&format!("{name} (pip dependencies)"))?;
        for (reference, digest) in conda.wheel_references() {
            let stored: Option<String> = connection
                .query_row(
                    "SELECT sha256 FROM wheels WHERE sha256 = ?1 LIMIT 1",
                    params![digest],
                    |row| row.get(0),
                )
                .optional()
                .map_err(StoreError::db("looking up a wheel"))?;
            if stored.is_none() {
                return Err(StoreError::InvalidReference {
                    reference: reference.to_string(),
                    reason: "no wheel with this digest is stored in the workspace (add it with `strata env add-wheel FILE`, which prints the reference to use)".to_string(),
                });
            }
        }
    }
    let mut warnings = Vec::new();
    let registry = &mut environment.docker.base_image_registry;
    if let Some(password) = &registry.password
        && !is_variable_reference(password.trim())
    {
        registry.password = None;
        warnings.push(
            "The registry password in the definition was not stored: Strata never keeps credentials. Put it in an environment variable and name that variable in the definition instead, e.g. `\"password\": \"${STRATA_REGISTRY_PASSWORD}\"`".to_string(),
        );
    }
    let explicit = match environment.version.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| {
            StoreError::InvalidReference {
                reference: format!("{name}:{text}"),
                reason: "environment versions are positive integers".to_string(),
            }
        })?),
    };
    let spec_hash = SpecHash::of(&environment);
    let kind = kind_of(&environment);
    let description = environment.metadata.description.clone();

    let existing: Option<(u64, String)> = match explicit {
        Some(version) => connection
            .query_row(
                "SELECT version, spec_hash FROM environments WHERE name = ?1 AND version = ?2",
                params![name, version],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional(),
        None => connection
            .query_row(
                "SELECT version, spec_hash FROM environments WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                params![name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional(),
    }
    .map_err(StoreError::db("reading the latest version"))?;

    let version = match (&existing, explicit) {
        (Some((version, hash)), _) if *hash == spec_hash.as_str() && !force_new => {
            let record = get_in(connection, &name, Some(*version))?;
            return Ok(Registration {
                record,
                created: false,
                warnings,
            });
        }
        (Some((version, hash)), Some(_)) if !force_new => {
            return Err(StoreError::VersionConflict {
                name,
                version: *version,
                existing: hash.clone(),
                new: spec_hash.to_string(),
            });
        }
        (Some((latest, _)), _) => latest + 1,
        (None, Some(version)) => version,
        (None, None) => 1,
    };

    environment.version = Some(version.to_string());
    let files = environment.to_v1_files();
    let stored = StoredDefinition {
        environment_json: files.environment_json,
        conda_dependencies: files.conda_dependencies,
        base_dockerfile: files.base_dockerfile,
        metadata: environment.metadata.clone(),
    };
    let definition =
        serde_json::to_string(&stored).map_err(|source| StoreError::CorruptRecord {
            what: format!("{name}:{version}"),
            source,
        })?;
    let created_at = now_millis();
    connection
        .execute(
            "INSERT INTO environments (name, version, spec_hash, definition, kind, description, curated, anonymous, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                name,
                version,
                spec_hash.as_str(),
                definition,
                kind,
                description,
                curated,
                options.anonymous,
                created_at
            ],
        )
        .map_err(StoreError::db("registering the environment"))?;
    let summary = EnvironmentSummary {
        name: name.clone(),
        version,
        spec_hash: spec_hash.to_string(),
        kind,
        description,
        curated,
        anonymous: options.anonymous,
        created_at,
    };
    Ok(Registration {
        record: EnvironmentRecord {
            name,
            version,
            spec_hash,
            environment,
            summary,
        },
        created: true,
        warnings,
    })
}

fn get_in(
    connection: &Connection,
    name: &str,
    version: Option<u64>,
) -> Result<EnvironmentRecord, StoreError> {
    let row = match version {
        Some(version) => connection.query_row(
            &format!("SELECT {COLUMNS}, definition FROM environments WHERE name = ?1 AND version = ?2"),
            params![name, version],
            row_to_summary_and_definition,
        ),
        None => connection.query_row(
            &format!("SELECT {COLUMNS}, definition FROM environments WHERE name = ?1 ORDER BY version DESC LIMIT 1"),
            params![name],
            row_to_summary_and_definition,
        ),
    }
    .optional()
    .map_err(StoreError::db("reading an environment"))?;
    let Some((summary, definition)) = row else {
        return Err(not_found(connection, name, version));
    };
    let what = format!("{}:{}", summary.name, summary.version);
    let stored: StoredDefinition =
        serde_json::from_str(&definition).map_err(|source| StoreError::CorruptRecord {
            what: what.clone(),
            source,
        })?;
    let files = V1Files {
        environment_json: stored.environment_json,
        conda_dependencies: stored.conda_dependencies,
        base_dockerfile: stored.base_dockerfile,
    };
    let mut environment = Environment::from_v1_files(&files, &format!("<stored {what}>"))?.value;
    environment.metadata = stored.metadata;
    Ok(EnvironmentRecord {
        name: summary.name.clone(),
        version: summary.version,
        spec_hash: SpecHash::from_hex(summary.spec_hash.clone()),
        environment,
        summary,
    })
}

fn not_found(connection: &Connection, name: &str, version: Option<u64>) -> StoreError {
    let latest: Option<u64> = connection
        .query_row(
            "SELECT MAX(version) FROM environments WHERE name = ?1",
            params![name],
            |row| row.get(0),
        )
        .ok()
        .flatten();
    match (version, latest) {
        (Some(version), Some(latest)) => StoreError::VersionNotFound {
            name: name.to_string(),
            version,
            latest,
        },
        (Some(version), None) => StoreError::NotFound {
            what: format!("Environment `{name}:{version}`"),
        },
        (None, _) => StoreError::NotFound {
            what: format!("Environment `{name}`"),
        },
    }
}
