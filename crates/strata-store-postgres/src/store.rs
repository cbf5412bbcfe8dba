//! The connection pool and schema migrations.

use std::borrow::Cow;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection as _, Row as _, SqlSafeStr as _};
use strata_store::StoreError;

use crate::error::{db, from_sqlx, redact_url, scrub};

/// The numbered migrations, embedded so a binary carries its schema; each runs in a
/// transaction (PostgreSQL DDL is transactional), so a failed one leaves nothing behind.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "metric_order",
        include_str!("../migrations/0002_metric_order.sql"),
    ),
    (3, "pages", include_str!("../migrations/0003_pages.sql")),
    (
        4,
        "locked_packages",
        include_str!("../migrations/0004_locked_packages.sql"),
    ),
    (
        5,
        "refusals",
        include_str!("../migrations/0005_refusals.sql"),
    ),
    (6, "labels", include_str!("../migrations/0006_labels.sql")),
    (7, "targets", include_str!("../migrations/0007_targets.sql")),
    (
        8,
        "run_jobs",
        include_str!("../migrations/0008_run_jobs.sql"),
    ),
];

/// The advisory lock migrations hold (an arbitrary constant: "strata" in ASCII).
const MIGRATION_LOCK: i64 = 0x7374_7261_7461;

/// How long a request waits for a connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The team server's metadata in PostgreSQL: server records ([`strata_store::store::ServerStore`])
/// and, per workspace, its records ([`strata_store::store::WorkspaceStore`]).
#[derive(Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    options: PgConnectOptions,
    /// The URL without its password, for messages and `location()`.
    pub(crate) location: String,
}

/// What [`PostgresStore::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The schema version before.
    pub from: u32,
    /// The schema version now.
    pub to: u32,
    /// The migrations applied, as `NNNN_description`.
    pub applied: Vec<String>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Opens a pool on `url` (`postgres://user[:password]@host[:port]/database`) and checks that
    /// the database answers. Connections are made again as needed, so the store recovers by
    /// itself when the database comes back after a restart.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let location = redact_url(url);
        let password = url::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(str::to_string));
        let options = PgConnectOptions::from_str(url)
            .map_err(|error| StoreError::Backend {
                what: format!("The PostgreSQL URL `{location}`"),
                message: scrub(&error.to_string(), password.as_deref()),
            })?
            // Every statement here is short; JIT compiling one costs more than it saves (100 ms
            // and more for a page's sort over 100,000 runs).
            .options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // Checking a pooled connection before use is what replaces the ones a database
            // restart broke, so the first request after the restart already succeeds.
            .test_before_acquire(true)
            .connect_lazy_with(options.clone());
        let store = Self {
            pool,
            options,
            location,
        };
        sqlx::query("SELECT 1")
            .execute(&store.pool)
            .await
            .map_err(|error| {
                let mapped = from_sqlx(&format!("connecting to `{}`", store.location), &error);
                scrub_error(mapped, password.as_deref())
            })?;
        Ok(store)
    }

    /// Where the database is, without the password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The newest schema version this build knows.
    pub fn supported_schema() -> u32 {
        MIGRATIONS
            .iter()
            .map(|(version, _, _)| u32::try_from(*version).unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    /// The schema version of the database (0 for an empty one).
    pub async fn current_schema(&self) -> Result<u32, StoreError> {
        let exists: bool = sqlx::query("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db("reading the schema version"))?;
        if !exists {
            return Ok(0);
        }
        let version: Option<i64> =
            sqlx::query("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(db("reading the schema version"))?;
        Ok(u32::try_from(version.unwrap_or(0)).unwrap_or(u32::MAX))
    }

    /// The migrations not yet applied, as `NNNN_description`; the server refuses to start
    /// while there are any.
    pub async fn pending(&self) -> Result<Vec<String>, StoreError> {
        let current = self.current_schema().await?;
        Ok(MIGRATIONS
            .iter()
            .filter(|(version, _, _)| u32::try_from(*version).unwrap_or(0) > current)
            .map(|(version, name, _)| format!("{version:04}_{name}"))
            .collect())
    }

    /// Applies the pending migrations under a PostgreSQL advisory lock, so servers started
    /// together migrate one after the other; a second run finds nothing to do. Refuses a
    /// database whose schema is newer than this build.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let supported = Self::supported_schema();
        // A connection of its own: if a migration fails, closing it releases the advisory
        // lock, which a pooled connection would keep holding.
        let mut connection = sqlx::PgConnection::connect_with(&self.options)
            .await
            .map_err(db("connecting to migrate"))?;
        let mut migrator = Migrator::with_migrations(
            MIGRATIONS
                .iter()
                .map(|(version, name, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*name),
                        MigrationType::Simple,
                        sqlx::AssertSqlSafe(*sql).into_sql_str(),
                        false,
                    )
                })
                .collect(),
        );
        // The lock is taken here rather than by the migrator, so that the version read
        // before migrating is the one this run starts from: a server that waited for another
        // one's migration reports that it applied nothing.
        migrator.set_locking(false);
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut connection)
            .await
            .map_err(db("waiting for the migration lock"))?;
        let result = async {
            let before = self.current_schema().await?;
            if before > supported {
                return Err(schema_too_new(&self.location, before, supported));
            }
            migrator
                .run_direct(None, &mut connection, false)
                .await
                .map_err(|error| match error {
                    sqlx::migrate::MigrateError::Execute(error) => from_sqlx("migrating", &error),
                    other => StoreError::Backend {
                        what: format!("Migrating {}", self.location),
                        message: other.to_string(),
                    },
                })?;
            Ok(before)
        }
        .await;
        // Closing releases the lock, whatever happened; closing politely is best effort.
        let _ = connection.close().await;
        let before = result?;
        let after = self.current_schema().await?;
        Ok(MigrationReport {
            from: before,
            to: after,
            applied: MIGRATIONS
                .iter()
                .filter(|(version, _, _)| {
                    let version = u32::try_from(*version).unwrap_or(0);
                    version > before && version <= after
                })
                .map(|(version, name, _)| format!("{version:04}_{name}"))
                .collect(),
        })
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn scrub_error(error: StoreError, secret: Option<&str>) -> StoreError {
    match error {
        StoreError::Unavailable { what, message } => StoreError::Unavailable {
            what,
            message: scrub(&message, secret),
        },
        StoreError::Backend { what, message } => StoreError::Backend {
            what,
            message: scrub(&message, secret),
        },
        other => other,
    }
}

pub(crate) fn schema_too_new(location: &str, found: u32, supported: u32) -> StoreError {
    StoreError::SchemaTooNew {
        path: location.into(),
        found,
        supported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migration file that is not in [`MIGRATIONS`] would never run.
    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("the migrations directory")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|(version, name, _)| format!("{version:04}_{name}.sql"))
            .collect();
        assert_eq!(files, embedded);
        let versions: Vec<i64> = MIGRATIONS.iter().map(|(v, _, _)| *v).collect();
        assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    }
}
