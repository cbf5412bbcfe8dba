//! The versioned environment registry.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use strata_spec::{
    Environment, EnvironmentVersion, SpecHash, curated_environments, is_curated_name,
};

use crate::definition::DefinitionDocument;
use crate::error::StoreError;
use crate::registration::{PreparedRegistration, RegistrationDecision};
use crate::workspace::{Workspace, now_millis};

/// One registered version of an environment.
#[derive(Debug, Clone)]
pub struct EnvironmentRecord {
    pub name: String,
    pub version: EnvironmentVersion,
    pub spec_hash: SpecHash,
    pub environment: Environment,
    pub summary: EnvironmentSummary,
}

/// What lists show about a version, read without parsing its definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSummary {
    pub name: String,
    pub version: EnvironmentVersion,
    pub spec_hash: String,
    /// `pip`, `conda`, `image`, `dockerfile` or `user-managed`.
    pub kind: String,
    pub description: Option<String>,
    pub curated: bool,
    pub anonymous: bool,
    /// Milliseconds since the Unix epoch: exact on the API, RFC 3339 in the record's own JSON.
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
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

impl Workspace {
    /// Registers a definition: the latest version when its spec hash is unchanged, otherwise
    /// the next integer version (one more than the highest integer version; string versions
    /// such as `22.02-py3` do not count), or the explicit `version` of the definition. One
    /// transaction: concurrent registrations of one definition make one version, of different
    /// ones consecutive versions.
    pub fn register_environment(
        &mut self,
        environment: Environment,
        options: RegisterOptions,
    ) -> Result<Registration, StoreError> {
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

    /// A version, or the latest version (the one registered last) when `version` is `None`.
    pub fn get_environment(
        &self,
        name: &str,
        version: Option<&EnvironmentVersion>,
    ) -> Result<EnvironmentRecord, StoreError> {
        get_in(&self.connection, name, version)
    }

    /// The latest version of every environment, or every version; anonymous ones only when
    /// asked for. Sorted by name, then in the order the versions were registered.
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
            format!("SELECT {COLUMNS} FROM environments e {filter} ORDER BY name, id")
        } else {
            // The grouped MAX walks the summary index once; a correlated subquery per row does not.
            format!(
                "SELECT {COLUMNS} FROM environments e
                 JOIN (SELECT MAX(id) AS latest_id FROM environments GROUP BY name)
                   ON e.id = latest_id
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
                    .query_row(params![name, version.as_str()], |row| row.get::<_, i64>(0))
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
                    params![name, version.as_str()],
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
        version: Option<&EnvironmentVersion>,
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
        version: Option<&EnvironmentVersion>,
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

pub(crate) const COLUMNS: &str =
    "name, version, spec_hash, kind, description, curated, anonymous, created_at";

pub(crate) fn row_to_summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<EnvironmentSummary> {
    Ok(EnvironmentSummary {
        name: row.get(0)?,
        version: EnvironmentVersion::from_stored(row.get(1)?),
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

/// Registers within a write transaction (see [`Workspace::register_environment`]).
pub(crate) fn insert_in(
    connection: &Connection,
    environment: Environment,
    options: RegisterOptions,
    curated: bool,
    force_new: bool,
) -> Result<Registration, StoreError> {
    let prepared = if curated {
        PreparedRegistration::curated(environment)?
    } else {
        PreparedRegistration::new(environment)?
    };
    for (reference, digest) in &prepared.wheel_references {
        let stored: Option<String> = connection
            .query_row(
                "SELECT sha256 FROM wheels WHERE sha256 = ?1 LIMIT 1",
                params![digest],
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::db("looking up a wheel"))?;
        if stored.is_none() {
            return Err(PreparedRegistration::missing_wheel(reference));
        }
    }
    let name = prepared.name.clone();
    let existing: Option<(String, String)> = match &prepared.explicit {
        Some(version) => connection
            .query_row(
                "SELECT version, spec_hash FROM environments WHERE name = ?1 AND version = ?2",
                params![name, version.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional(),
        None => connection
            .query_row(
                "SELECT version, spec_hash FROM environments WHERE name = ?1 ORDER BY id DESC LIMIT 1",
                params![name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional(),
    }
    .map_err(StoreError::db("reading the latest version"))?;
    let existing = existing.map(|(version, hash)| (EnvironmentVersion::from_stored(version), hash));
    let version = match prepared.decide(existing, force_new, || next_version(connection, &name))? {
        RegistrationDecision::Existing(version) => {
            let record = get_in(connection, &name, Some(&version))?;
            return Ok(Registration {
                record,
                created: false,
                warnings: prepared.warnings,
            });
        }
        RegistrationDecision::New(version) => version,
    };
    let warnings = prepared.warnings.clone();
    let (record, document) = prepared.into_record(version, options, curated, now_millis())?;
    let definition = document.to_json(&format!("{}:{}", record.name, record.version))?;
    let summary = &record.summary;
    connection
        .execute(
            "INSERT INTO environments (name, version, spec_hash, definition, kind, description, curated, anonymous, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                summary.name,
                summary.version.as_str(),
                summary.spec_hash,
                definition,
                summary.kind,
                summary.description,
                curated,
                options.anonymous,
                summary.created_at
            ],
        )
        .map_err(StoreError::db("registering the environment"))?;
    Ok(Registration {
        record,
        created: true,
        warnings,
    })
}

/// One more than the highest integer version of `name` (1 for a new name): string versions
/// such as `22.02-py3` or `1.0` are not counted.
fn next_version(connection: &Connection, name: &str) -> Result<EnvironmentVersion, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT version FROM environments WHERE name = ?1")
        .map_err(StoreError::db("reading the versions"))?;
    let versions = statement
        .query_map(params![name], |row| row.get::<_, String>(0))
        .map_err(StoreError::db("reading the versions"))?;
    let mut highest = 0;
    for version in versions {
        let version = version.map_err(StoreError::db("reading the versions"))?;
        if let Some(number) = EnvironmentVersion::from_stored(version).as_number() {
            highest = highest.max(number);
        }
    }
    Ok(EnvironmentVersion::number(highest + 1))
}

fn get_in(
    connection: &Connection,
    name: &str,
    version: Option<&EnvironmentVersion>,
) -> Result<EnvironmentRecord, StoreError> {
    let row = match version {
        Some(version) => connection.query_row(
            &format!("SELECT {COLUMNS}, definition FROM environments WHERE name = ?1 AND version = ?2"),
            params![name, version.as_str()],
            row_to_summary_and_definition,
        ),
        None => connection.query_row(
            &format!("SELECT {COLUMNS}, definition FROM environments WHERE name = ?1 ORDER BY id DESC LIMIT 1"),
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
    let environment = DefinitionDocument::from_json(&definition, &what)?.to_environment(&what)?;
    Ok(EnvironmentRecord {
        name: summary.name.clone(),
        version: summary.version.clone(),
        spec_hash: SpecHash::from_hex(summary.spec_hash.clone()),
        environment,
        summary,
    })
}

fn not_found(
    connection: &Connection,
    name: &str,
    version: Option<&EnvironmentVersion>,
) -> StoreError {
    let latest: Option<EnvironmentVersion> = connection
        .query_row(
            "SELECT version FROM environments WHERE name = ?1 ORDER BY id DESC LIMIT 1",
            params![name],
            |row| row.get(0),
        )
        .ok()
        .map(EnvironmentVersion::from_stored);
    match (version, latest) {
        (Some(version), Some(latest)) => StoreError::VersionNotFound {
            name: name.to_string(),
            version: version.clone(),
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

#[cfg(test)]
mod tests {
    use rusqlite::params;
    use strata_spec::{Environment, EnvironmentVersion};

    use crate::definition::DefinitionDocument;
    use crate::{RegisterOptions, StoreError, Workspace};

    fn definition(name: &str, image: &str, version: Option<&str>) -> Environment {
        let mut environment = Environment::from_docker_image(name, image, None).0;
        environment.version = version.map(str::to_string);
        environment
    }

    fn register(workspace: &mut Workspace, environment: Environment) -> (String, bool) {
        let registration = workspace
            .register_environment(environment, RegisterOptions::default())
            .unwrap();
        (
            registration.record.version.to_string(),
            registration.created,
        )
    }

    fn versions(workspace: &Workspace) -> Vec<String> {
        workspace
            .list_environments(true, false)
            .unwrap()
            .into_iter()
            .filter(|s| s.name == "nv")
            .map(|s| s.version.to_string())
            .collect()
    }

    /// Issue #11, item 14: Azure ML v2 versions are strings. Automatic versions count on from
    /// the highest integer one; the latest is the one registered last.
    #[test]
    fn string_versions_and_the_latest_is_the_last_registered() {
        let dir = tempfile::tempdir().unwrap();
        let mut workspace = Workspace::init(dir.path()).unwrap();
        assert_eq!(
            register(&mut workspace, definition("nv", "a:1", None)),
            ("1".to_string(), true)
        );
        assert_eq!(
            register(&mut workspace, definition("nv", "a:2", Some("22.02-py3"))),
            ("22.02-py3".to_string(), true)
        );
        let latest = workspace.get_environment("nv", None).unwrap();
        assert_eq!(latest.version.as_str(), "22.02-py3");
        // Unchanged: the latest is returned, whatever its version.
        assert_eq!(
            register(&mut workspace, definition("nv", "a:2", None)),
            ("22.02-py3".to_string(), false)
        );
        assert_eq!(
            register(&mut workspace, definition("nv", "a:3", None)),
            ("2".to_string(), true)
        );
        // `1.0` is a version of its own, not `1`.
        assert_eq!(
            register(&mut workspace, definition("nv", "a:4", Some("1.0"))),
            ("1.0".to_string(), true)
        );
        let one = EnvironmentVersion::parse("1").unwrap();
        let record = workspace.get_environment("nv", Some(&one)).unwrap();
        assert_eq!(record.environment.docker.base_image.as_deref(), Some("a:1"));
        assert_eq!(versions(&workspace), ["1", "22.02-py3", "2", "1.0"]);
        let latest: Vec<String> = workspace
            .list_environments(false, false)
            .unwrap()
            .into_iter()
            .filter(|s| s.name == "nv")
            .map(|s| s.version.to_string())
            .collect();
        assert_eq!(latest, ["1.0"]);
        assert_eq!(
            register(&mut workspace, definition("nv", "a:5", None)),
            ("3".to_string(), true)
        );

        // An explicit version that exists: the same one, or a conflict.
        assert_eq!(
            register(&mut workspace, definition("nv", "a:2", Some("22.02-py3"))),
            ("22.02-py3".to_string(), false)
        );
        let conflict = workspace
            .register_environment(
                definition("nv", "a:9", Some("22.02-py3")),
                RegisterOptions::default(),
            )
            .unwrap_err();
        assert!(
            matches!(conflict, StoreError::VersionConflict { ref version, .. } if version == "22.02-py3"),
            "{conflict}"
        );
        let invalid = workspace
            .register_environment(
                definition("nv", "a:9", Some("a b")),
                RegisterOptions::default(),
            )
            .unwrap_err();
        assert_eq!(
            invalid.to_string(),
            "Invalid environment version `a b`: ` ` is not allowed (use letters, digits, `-`, `_` and `.`)"
        );
        let missing = EnvironmentVersion::parse("7").unwrap();
        let error = workspace.get_environment("nv", Some(&missing)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Environment `nv` has no version 7 (the latest is 3)"
        );
    }

    /// Migration 7 turns integer version columns into text and keeps the order of versions:
    /// `10` stays later than `9` (as text it would not be).
    #[test]
    fn migration_keeps_integer_versions_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".strata");
        fs_err::create_dir_all(root.join("blobs")).unwrap();
        {
            let connection = rusqlite::Connection::open(root.join("strata.db")).unwrap();
            for migration in &crate::db::MIGRATIONS[..6] {
                connection.execute_batch(migration).unwrap();
            }
            connection.pragma_update(None, "user_version", 6).unwrap();
            for version in [1_i64, 9, 10] {
                let mut environment = definition("old", &format!("img:{version}"), None);
                environment.version = Some(version.to_string());
                let files = environment.to_v1_files();
                let stored = serde_json::to_string(&DefinitionDocument {
                    environment_json: files.environment_json,
                    conda_dependencies: files.conda_dependencies,
                    base_dockerfile: files.base_dockerfile,
                    metadata: environment.metadata.clone(),
                })
                .unwrap();
                connection
                    .execute(
                        "INSERT INTO environments (name, version, spec_hash, definition, kind, created_at)
                         VALUES ('old', ?1, ?2, ?3, 'image', ?4)",
                        params![
                            version,
                            strata_spec::SpecHash::of(&environment).as_str(),
                            stored,
                            100 - version
                        ],
                    )
                    .unwrap();
            }
            connection
                .execute(
                    "INSERT INTO runs (id, experiment, status, env_name, env_version, script, arguments, source_dir, run_dir, queued_at)
                     VALUES ('r1', 'e', 'Completed', 'old', 10, 's.py', '[]', '.', '.', 1)",
                    [],
                )
                .unwrap();
        }
        let mut workspace = Workspace::open(&root).unwrap();
        let latest = workspace.get_environment("old", None).unwrap();
        assert_eq!(latest.version.as_str(), "10");
        assert_eq!(
            latest.environment.docker.base_image.as_deref(),
            Some("img:10")
        );
        let all: Vec<String> = workspace
            .list_environments(true, false)
            .unwrap()
            .into_iter()
            .filter(|s| s.name == "old")
            .map(|s| s.version.to_string())
            .collect();
        assert_eq!(all, ["1", "9", "10"]);
        let run = workspace.get_run("r1").unwrap();
        assert_eq!(run.env_version.as_str(), "10");
        let (version, created) = register(&mut workspace, definition("old", "img:new", None));
        assert_eq!((version.as_str(), created), ("11", true));
    }
}
