//! Environments, their locks and builds, with the registration rules every store shares
//! ([`PreparedRegistration`]): unchanged definitions are the version they already are,
//! explicit versions are immutable, new ones count on from the highest integer version.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};
use strata_spec::{EnvironmentVersion, Lock, SpecHash};
use strata_store::store::{Cursor, CursorPage, EnvironmentQuery};
use strata_store::{
    BuildRecord, DefinitionDocument, EnvironmentRecord, EnvironmentSummary, LockRecord,
    PreparedRegistration, RegisterOptions, Registration, RegistrationDecision, StoreError,
};

use crate::error::{corrupt, db};
use crate::workspace::{PgWorkspace, after, fetch};

pub(crate) const SUMMARY_COLUMNS: &str =
    "name, version, spec_hash, kind, description, curated, anonymous, created_at";

pub(crate) fn row_to_summary(row: &PgRow) -> Result<EnvironmentSummary, sqlx::Error> {
    Ok(EnvironmentSummary {
        name: row.try_get("name")?,
        version: EnvironmentVersion::from_stored(row.try_get("version")?),
        spec_hash: row.try_get("spec_hash")?,
        kind: row.try_get("kind")?,
        description: row.try_get("description")?,
        curated: row.try_get("curated")?,
        anonymous: row.try_get("anonymous")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn row_to_build(row: &PgRow) -> Result<BuildRecord, sqlx::Error> {
    Ok(BuildRecord {
        name: row.try_get("name")?,
        version: EnvironmentVersion::from_stored(row.try_get("version")?),
        lock_hash: row.try_get("lock_hash")?,
        status: row.try_get("status")?,
        prefix: row.try_get("prefix")?,
        log_digest: row.try_get("log_digest")?,
        error: row.try_get("error")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// One more than the highest integer version (1 for a new name); string versions such as
/// `22.02-py3` or `1.0` do not count.
fn next_version(versions: &[String]) -> EnvironmentVersion {
    let highest = versions
        .iter()
        .filter_map(|v| EnvironmentVersion::from_stored(v.clone()).as_number())
        .max()
        .unwrap_or(0);
    EnvironmentVersion::number(highest + 1)
}

/// Stores a new version's row.
async fn insert_version(
    connection: &mut PgConnection,
    workspace_id: i64,
    summary: &EnvironmentSummary,
    definition: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO environments (workspace_id, name, version, spec_hash, definition, kind, description, curated, anonymous, created_at)
         VALUES ($1, $2, $3, $4, $5::json, $6, $7, $8, $9, $10)",
    )
    .bind(workspace_id)
    .bind(&summary.name)
    .bind(summary.version.as_str())
    .bind(&summary.spec_hash)
    .bind(definition)
    .bind(&summary.kind)
    .bind(&summary.description)
    .bind(summary.curated)
    .bind(summary.anonymous)
    .bind(summary.created_at)
    .execute(connection)
    .await
    .map_err(db("registering an environment"))?;
    Ok(())
}

/// Gives a new workspace the curated environments of this build, as a local workspace has
/// them from its creation.
pub(crate) async fn seed_curated(
    connection: &mut PgConnection,
    workspace_id: i64,
) -> Result<(), StoreError> {
    for (_, version, environment) in strata_spec::curated_environments() {
        let prepared = PreparedRegistration::curated(environment)?;
        let version = match prepared.decide(None, false, || Ok(version))? {
            RegistrationDecision::New(version) | RegistrationDecision::Existing(version) => version,
        };
        let (record, document) = prepared.into_record(
            version,
            RegisterOptions::default(),
            true,
            strata_store::now_millis(),
        )?;
        let what = format!("{}:{}", record.name, record.version);
        insert_version(
            connection,
            workspace_id,
            &record.summary,
            &document.to_json(&what)?,
        )
        .await?;
    }
    Ok(())
}

impl PgWorkspace {
    /// Registers in one transaction that holds the name's row lock, so concurrent
    /// registrations of one name see each other's versions.
    pub(crate) async fn register(
        &self,
        environment: strata_spec::Environment,
        options: RegisterOptions,
    ) -> Result<Registration, StoreError> {
        let prepared = PreparedRegistration::new(environment)?;
        let mut tx = self.begin("registering an environment").await?;
        for (reference, digest) in &prepared.wheel_references {
            let granted =
                sqlx::query("SELECT 1 FROM blob_grants WHERE workspace_id = $1 AND digest = $2")
                    .bind(self.id)
                    .bind(digest)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("looking up a wheel"))?
                    .is_some();
            if !granted {
                return Err(PreparedRegistration::missing_wheel(reference));
            }
        }
        let name = prepared.name.clone();
        self.lock_name(&mut tx, "environment", &name).await?;
        let existing = match &prepared.explicit {
            Some(version) => {
                sqlx::query(
                    "SELECT version, spec_hash FROM environments
                 WHERE workspace_id = $1 AND name = $2 AND version = $3",
                )
                .bind(self.id)
                .bind(&name)
                .bind(version.as_str())
                .fetch_optional(&mut *tx)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT version, spec_hash FROM environments
                 WHERE workspace_id = $1 AND name = $2 ORDER BY id DESC LIMIT 1",
                )
                .bind(self.id)
                .bind(&name)
                .fetch_optional(&mut *tx)
                .await
            }
        }
        .and_then(|row| {
            row.map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
                .transpose()
        })
        .map_err(db("reading the latest version"))?
        .map(|(version, hash)| (EnvironmentVersion::from_stored(version), hash));
        // `decide` asks for the next version only without an explicit one; read the versions
        // then, under the lock, since the closure cannot wait for the database.
        let versions: Vec<String> = if prepared.explicit.is_none() {
            sqlx::query("SELECT version FROM environments WHERE workspace_id = $1 AND name = $2")
                .bind(self.id)
                .bind(&name)
                .fetch_all(&mut *tx)
                .await
                .and_then(|rows| rows.iter().map(|r| r.try_get(0)).collect())
                .map_err(db("reading the versions"))?
        } else {
            Vec::new()
        };
        let version = match prepared.decide(existing, false, || Ok(next_version(&versions)))? {
            RegistrationDecision::Existing(version) => {
                let record = self.environment_in(&mut tx, &name, Some(&version)).await?;
                return Ok(Registration {
                    record,
                    created: false,
                    warnings: prepared.warnings,
                });
            }
            RegistrationDecision::New(version) => version,
        };
        let warnings = prepared.warnings.clone();
        let (record, document) =
            prepared.into_record(version, options, false, strata_store::now_millis())?;
        let what = format!("{}:{}", record.name, record.version);
        let definition = document.to_json(&what)?;
        insert_version(&mut tx, self.id, &record.summary, &definition).await?;
        self.audit(
            &mut tx,
            "environment.register",
            &format!("environments/{}/versions/{}", record.name, record.version),
        )
        .await?;
        tx.commit().await.map_err(db("committing a registration"))?;
        Ok(Registration {
            record,
            created: true,
            warnings,
        })
    }

    /// A version, or the latest (the one registered last).
    pub(crate) async fn environment_in(
        &self,
        connection: &mut PgConnection,
        name: &str,
        version: Option<&EnvironmentVersion>,
    ) -> Result<EnvironmentRecord, StoreError> {
        let row = match version {
            Some(version) => sqlx::query(
                "SELECT name, version, spec_hash, kind, description, curated, anonymous, created_at, definition::text AS definition
                 FROM environments WHERE workspace_id = $1 AND name = $2 AND version = $3",
            )
            .bind(self.id)
            .bind(name)
            .bind(version.as_str())
            .fetch_optional(&mut *connection)
            .await,
            None => sqlx::query(
                "SELECT name, version, spec_hash, kind, description, curated, anonymous, created_at, definition::text AS definition
                 FROM environments WHERE workspace_id = $1 AND name = $2 ORDER BY id DESC LIMIT 1",
            )
            .bind(self.id)
            .bind(name)
            .fetch_optional(&mut *connection)
            .await,
        }
        .map_err(db("reading an environment"))?;
        let Some(row) = row else {
            return Err(self.not_found(connection, name, version).await);
        };
        let summary = row_to_summary(&row).map_err(db("reading an environment"))?;
        let definition: String = row
            .try_get("definition")
            .map_err(db("reading an environment"))?;
        let what = format!("{}:{}", summary.name, summary.version);
        let environment =
            DefinitionDocument::from_json(&definition, &what)?.to_environment(&what)?;
        Ok(EnvironmentRecord {
            name: summary.name.clone(),
            version: summary.version.clone(),
            spec_hash: SpecHash::from_hex(summary.spec_hash.clone()),
            environment,
            summary,
        })
    }

    /// The error for a missing version: it names the latest one when the name exists.
    pub(crate) async fn not_found(
        &self,
        connection: &mut PgConnection,
        name: &str,
        version: Option<&EnvironmentVersion>,
    ) -> StoreError {
        let latest = sqlx::query(
            "SELECT version FROM environments WHERE workspace_id = $1 AND name = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(self.id)
        .bind(name)
        .fetch_optional(connection)
        .await;
        let latest = match latest {
            Ok(row) => row
                .and_then(|r| r.try_get::<String, _>(0).ok())
                .map(EnvironmentVersion::from_stored),
            Err(error) => return crate::error::from_sqlx("reading an environment", &error),
        };
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

    pub(crate) async fn environments(
        &self,
        query: &EnvironmentQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentSummary>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, id FROM environments e
             WHERE e.workspace_id = $1
               AND ($2 OR NOT e.anonymous)
               AND ($3::text IS NULL OR left(e.name, length($3)) = $3)
               AND ($4::text IS NULL OR e.name = $4)
               AND ($5::text IS NULL OR e.name > $5 OR (e.name = $5 AND e.id > $6))
               AND ($7 OR e.id IN (SELECT MAX(id) FROM environments WHERE workspace_id = $1 GROUP BY name))
             ORDER BY e.name, e.id LIMIT $8"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(query.include_anonymous)
            .bind(&query.prefix)
            .bind(&query.name)
            .bind(after.as_ref().map(|c| c.key.clone()))
            .bind(after.as_ref().map_or(0, |c| c.id))
            .bind(query.all_versions)
            .bind(fetch(limit))
            .fetch_all(self.pool())
            .await
            .map_err(db("listing environments"))?;
        let rows = rows
            .iter()
            .map(|row| {
                let summary = row_to_summary(row)?;
                // Latest versions only: one item per name, so the next page starts after the
                // name; a version registered meanwhile must not bring it back.
                let id = if query.all_versions {
                    row.try_get::<i64, _>("id")?
                } else {
                    i64::MAX
                };
                let cursor = Cursor::new(summary.name.clone(), id);
                Ok((summary, cursor))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db("listing environments"))?;
        Ok(Cursor::page(rows, limit))
    }

    pub(crate) async fn lock_in(
        &self,
        connection: &mut PgConnection,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<LockRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT lock_hash, lock::text AS lock, created_at FROM locks WHERE workspace_id = $1 AND name = $2 AND version = $3",
        )
        .bind(self.id)
        .bind(name)
        .bind(version.as_str())
        .fetch_optional(connection)
        .await
        .map_err(db("reading a lock"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let lock_hash: String = row.try_get("lock_hash").map_err(db("reading a lock"))?;
        let text: String = row.try_get("lock").map_err(db("reading a lock"))?;
        let locked_at: i64 = row.try_get("created_at").map_err(db("reading a lock"))?;
        let lock =
            serde_json::from_str(&text).map_err(corrupt(format!("lock of {name}:{version}")))?;
        Ok(Some(LockRecord {
            lock_hash,
            lock,
            locked_at,
        }))
    }

    /// Fails like a get when the version does not exist.
    pub(crate) async fn require_environment(
        &self,
        connection: &mut PgConnection,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<(), StoreError> {
        let exists = sqlx::query(
            "SELECT 1 FROM environments WHERE workspace_id = $1 AND name = $2 AND version = $3",
        )
        .bind(self.id)
        .bind(name)
        .bind(version.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(db("reading an environment"))?
        .is_some();
        if exists {
            Ok(())
        } else {
            Err(self.not_found(connection, name, Some(version)).await)
        }
    }

    /// Stores the lock unless the version has one (first writer wins) and returns the one
    /// it has.
    pub(crate) async fn store_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        lock: &Lock,
    ) -> Result<LockRecord, StoreError> {
        let mut tx = self.begin("storing a lock").await?;
        self.require_environment(&mut tx, name, version).await?;
        let inserted = sqlx::query(
            "INSERT INTO locks (workspace_id, name, version, lock_hash, lock, created_at)
             VALUES ($1, $2, $3, $4, $5::json, $6) ON CONFLICT DO NOTHING",
        )
        .bind(self.id)
        .bind(name)
        .bind(version.as_str())
        .bind(lock.hash())
        .bind(lock.to_json())
        .bind(strata_store::now_millis())
        .execute(&mut *tx)
        .await
        .map_err(db("storing a lock"))?
        .rows_affected();
        if inserted == 1 {
            self.index_lock(&mut tx, name, version, lock).await?;
            self.audit(
                &mut tx,
                "lock.set",
                &format!("environments/{name}/versions/{version}/lock"),
            )
            .await?;
        }
        let stored = self.lock_in(&mut tx, name, version).await?;
        tx.commit().await.map_err(db("storing a lock"))?;
        stored.ok_or_else(|| StoreError::NotFound {
            what: format!("Lock of `{name}:{version}`"),
        })
    }

    pub(crate) async fn build(&self, record: &BuildRecord) -> Result<(), StoreError> {
        let mut tx = self.begin("recording a build").await?;
        self.require_environment(&mut tx, &record.name, &record.version)
            .await?;
        self.require_blob(&mut tx, record.log_digest.as_deref(), || {
            format!("The build of `{}:{}`", record.name, record.version)
        })
        .await?;
        let id: i64 = sqlx::query(
            "INSERT INTO builds (workspace_id, name, version, lock_hash, status, prefix, log_digest, error, started_at, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(self.id)
        .bind(&record.name)
        .bind(record.version.as_str())
        .bind(&record.lock_hash)
        .bind(&record.status)
        .bind(&record.prefix)
        .bind(&record.log_digest)
        .bind(&record.error)
        .bind(record.started_at)
        .bind(record.finished_at)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db("recording a build"))?;
        self.audit(
            &mut tx,
            "build.record",
            &format!(
                "environments/{}/versions/{}/builds/{id}",
                record.name, record.version
            ),
        )
        .await?;
        tx.commit().await.map_err(db("recording a build"))
    }

    pub(crate) async fn builds(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<BuildRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let rows = sqlx::query(
            "SELECT id, name, version, lock_hash, status, prefix, log_digest, error, started_at, finished_at
             FROM builds WHERE workspace_id = $1 AND name = $2 AND version = $3
               AND ($4::bigint IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5",
        )
        .bind(self.id)
        .bind(name)
        .bind(version.as_str())
        .bind(after.map(|c| c.id))
        .bind(fetch(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db("listing builds"))?;
        let rows = rows
            .iter()
            .map(|row| Ok((row_to_build(row)?, Cursor::new("", row.try_get("id")?))))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db("listing builds"))?;
        Ok(Cursor::page(rows, limit))
    }
}
