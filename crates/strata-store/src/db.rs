//! The SQLite metadata store: WAL, a busy timeout so concurrent commands wait instead of
//! failing, and numbered append-only migrations tracked in `PRAGMA user_version`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::StoreError;

/// Migrations, applied in order; never edit one that has shipped, append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: environments and private wheels.
    "
    CREATE TABLE environments (
        name        TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        spec_hash   TEXT    NOT NULL,
        definition  TEXT    NOT NULL,
        kind        TEXT    NOT NULL,
        description TEXT,
        curated     INTEGER NOT NULL DEFAULT 0,
        anonymous   INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE INDEX environments_by_spec_hash ON environments (spec_hash);
    CREATE TABLE wheels (
        sha256     TEXT    NOT NULL,
        filename   TEXT    NOT NULL,
        size       INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (sha256, filename)
    ) WITHOUT ROWID;
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    ",
    // 2: a covering index for listings, so they never read the (large) definitions.
    "
    CREATE INDEX environments_summary ON environments
        (name, version, spec_hash, kind, description, curated, anonymous, created_at);
    ",
    // 3: locks (one per environment version, immutable) and builds with their logs.
    "
    CREATE TABLE locks (
        name       TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        lock_hash  TEXT    NOT NULL,
        lock       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE INDEX locks_by_hash ON locks (lock_hash);
    CREATE TABLE builds (
        id          INTEGER PRIMARY KEY,
        name        TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        lock_hash   TEXT,
        status      TEXT    NOT NULL,
        prefix      TEXT,
        log_digest  TEXT,
        error       TEXT,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER NOT NULL
    );
    CREATE INDEX builds_by_environment ON builds (name, version, id);
    ",
    // 4: runs with their metrics and tags, and models.
    "
    CREATE TABLE runs (
        id               TEXT PRIMARY KEY,
        experiment       TEXT    NOT NULL,
        status           TEXT    NOT NULL,
        env_name         TEXT    NOT NULL,
        env_version      INTEGER NOT NULL,
        lock_hash        TEXT,
        script           TEXT    NOT NULL,
        arguments        TEXT    NOT NULL,
        source_dir       TEXT    NOT NULL,
        snapshot         TEXT,
        run_dir          TEXT    NOT NULL,
        outputs          TEXT,
        logs             TEXT,
        exit_code        INTEGER,
        error            TEXT,
        supervisor_pid   INTEGER,
        supervisor_start TEXT,
        process_group    INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        queued_at        INTEGER NOT NULL,
        preparing_at     INTEGER,
        started_at       INTEGER,
        finished_at      INTEGER
    );
    CREATE INDEX runs_by_experiment ON runs (experiment, queued_at);
    CREATE INDEX runs_active ON runs (status) WHERE status IN ('Queued', 'Preparing', 'Running');
    CREATE TABLE run_metrics (
        run_id    TEXT    NOT NULL,
        seq       INTEGER NOT NULL,
        name      TEXT    NOT NULL,
        kind      TEXT    NOT NULL,
        value     TEXT    NOT NULL,
        logged_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE run_tags (
        run_id TEXT NOT NULL,
        key    TEXT NOT NULL,
        value  TEXT,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE models (
        name        TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        manifest    TEXT    NOT NULL,
        path        TEXT    NOT NULL,
        description TEXT,
        run_id      TEXT,
        experiment  TEXT,
        env_name    TEXT,
        env_version INTEGER,
        lock_hash   TEXT,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    ",
    // 5: deployed services.
    "
    CREATE TABLE services (
        name         TEXT PRIMARY KEY,
        state        TEXT    NOT NULL,
        host         TEXT    NOT NULL,
        port         INTEGER NOT NULL,
        env_name     TEXT    NOT NULL,
        env_version  INTEGER NOT NULL,
        lock_hash    TEXT,
        models       TEXT    NOT NULL,
        entry_script TEXT    NOT NULL,
        source_dir   TEXT,
        service_dir  TEXT    NOT NULL,
        config       TEXT    NOT NULL,
        pid          INTEGER,
        pid_start    TEXT,
        error        TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 6: container images built of environment versions (the image store itself is an OCI
    // layout in the cache; this is what the workspace knows it built).
    "
    CREATE TABLE images (
        reference       TEXT PRIMARY KEY,
        manifest_digest TEXT    NOT NULL,
        kind            TEXT    NOT NULL,
        env_name        TEXT,
        env_version     INTEGER,
        lock_hash       TEXT,
        base_reference  TEXT,
        base_digest     TEXT,
        size            INTEGER NOT NULL,
        created_at      INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX images_by_env ON images (env_name, env_version);
    ALTER TABLE runs ADD COLUMN target TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE runs ADD COLUMN image TEXT;
    ",
    // 7: environment versions are strings, as in Azure ML (`22.02-py3`): every column that
    // holds one becomes TEXT (an INTEGER column would turn `1.0` into `1`), and environments
    // get a registration order (`id`) that defines the latest version. Tables are rebuilt, the
    // way SQLite changes a column's type; existing versions keep their order.
    "
    CREATE TABLE environments_v7 (
        id          INTEGER PRIMARY KEY,
        name        TEXT    NOT NULL,
        version     TEXT    NOT NULL,
        spec_hash   TEXT    NOT NULL,
        definition  TEXT    NOT NULL,
        kind        TEXT    NOT NULL,
        description TEXT,
        curated     INTEGER NOT NULL DEFAULT 0,
        anonymous   INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        UNIQUE (name, version)
    );
    INSERT INTO environments_v7
        (name, version, spec_hash, definition, kind, description, curated, anonymous, created_at)
        SELECT name, CAST(version AS TEXT), spec_hash, definition, kind, description, curated,
               anonymous, created_at
        FROM environments ORDER BY name, version;
    DROP TABLE environments;
    ALTER TABLE environments_v7 RENAME TO environments;
    CREATE INDEX environments_by_spec_hash ON environments (spec_hash);
    CREATE INDEX environments_summary ON environments
        (name, id, version, spec_hash, kind, description, curated, anonymous, created_at);

    CREATE TABLE locks_v7 (
        name       TEXT    NOT NULL,
        version    TEXT    NOT NULL,
        lock_hash  TEXT    NOT NULL,
        lock       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    INSERT INTO locks_v7 SELECT name, CAST(version AS TEXT), lock_hash, lock, created_at FROM locks;
    DROP TABLE locks;
    ALTER TABLE locks_v7 RENAME TO locks;
    CREATE INDEX locks_by_hash ON locks (lock_hash);

    CREATE TABLE builds_v7 (
        id          INTEGER PRIMARY KEY,
        name        TEXT    NOT NULL,
        version     TEXT    NOT NULL,
        lock_hash   TEXT,
        status      TEXT    NOT NULL,
        prefix      TEXT,
        log_digest  TEXT,
        error       TEXT,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER NOT NULL
    );
    INSERT INTO builds_v7
        SELECT id, name, CAST(version AS TEXT), lock_hash, status, prefix, log_digest, error,
               started_at, finished_at
        FROM builds;
    DROP TABLE builds;
    ALTER TABLE builds_v7 RENAME TO builds;
    CREATE INDEX builds_by_environment ON builds (name, version, id);

    CREATE TABLE runs_v7 (
        id               TEXT PRIMARY KEY,
        experiment       TEXT    NOT NULL,
        status           TEXT    NOT NULL,
        env_name         TEXT    NOT NULL,
        env_version      TEXT    NOT NULL,
        lock_hash        TEXT,
        script           TEXT    NOT NULL,
        arguments        TEXT    NOT NULL,
        source_dir       TEXT    NOT NULL,
        snapshot         TEXT,
        run_dir          TEXT    NOT NULL,
        outputs          TEXT,
        logs             TEXT,
        exit_code        INTEGER,
        error            TEXT,
        supervisor_pid   INTEGER,
        supervisor_start TEXT,
        process_group    INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        queued_at        INTEGER NOT NULL,
        preparing_at     INTEGER,
        started_at       INTEGER,
        finished_at      INTEGER,
        target           TEXT    NOT NULL DEFAULT 'local',
        image            TEXT
    );
    INSERT INTO runs_v7
        SELECT id, experiment, status, env_name, CAST(env_version AS TEXT), lock_hash, script,
               arguments, source_dir, snapshot, run_dir, outputs, logs, exit_code, error,
               supervisor_pid, supervisor_start, process_group, cancel_requested, queued_at,
               preparing_at, started_at, finished_at, target, image
        FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_v7 RENAME TO runs;
    CREATE INDEX runs_by_experiment ON runs (experiment, queued_at);
    CREATE INDEX runs_active ON runs (status) WHERE status IN ('Queued', 'Preparing', 'Running');

    CREATE TABLE models_v7 (
        name        TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        manifest    TEXT    NOT NULL,
        path        TEXT    NOT NULL,
        description TEXT,
        run_id      TEXT,
        experiment  TEXT,
        env_name    TEXT,
        env_version TEXT,
        lock_hash   TEXT,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    INSERT INTO models_v7
        SELECT name, version, manifest, path, description, run_id, experiment, env_name,
               CAST(env_version AS TEXT), lock_hash, created_at
        FROM models;
    DROP TABLE models;
    ALTER TABLE models_v7 RENAME TO models;

    CREATE TABLE services_v7 (
        name         TEXT PRIMARY KEY,
        state        TEXT    NOT NULL,
        host         TEXT    NOT NULL,
        port         INTEGER NOT NULL,
        env_name     TEXT    NOT NULL,
        env_version  TEXT    NOT NULL,
        lock_hash    TEXT,
        models       TEXT    NOT NULL,
        entry_script TEXT    NOT NULL,
        source_dir   TEXT,
        service_dir  TEXT    NOT NULL,
        config       TEXT    NOT NULL,
        pid          INTEGER,
        pid_start    TEXT,
        error        TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO services_v7
        SELECT name, state, host, port, env_name, CAST(env_version AS TEXT), lock_hash, models,
               entry_script, source_dir, service_dir, config, pid, pid_start, error, created_at,
               updated_at
        FROM services;
    DROP TABLE services;
    ALTER TABLE services_v7 RENAME TO services;

    CREATE TABLE images_v7 (
        reference       TEXT PRIMARY KEY,
        manifest_digest TEXT    NOT NULL,
        kind            TEXT    NOT NULL,
        env_name        TEXT,
        env_version     TEXT,
        lock_hash       TEXT,
        base_reference  TEXT,
        base_digest     TEXT,
        size            INTEGER NOT NULL,
        created_at      INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO images_v7
        SELECT reference, manifest_digest, kind, env_name, CAST(env_version AS TEXT), lock_hash,
               base_reference, base_digest, size, created_at
        FROM images;
    DROP TABLE images;
    ALTER TABLE images_v7 RENAME TO images;
    CREATE INDEX images_by_env ON images (env_name, env_version);
    ",
    // 8: the index of locked packages (one row per package of each lock, names normalised
    // per ecosystem), filled from existing locks by `inventory::backfill` right after this,
    // and indexes to find what used an environment version.
    "
    CREATE TABLE locked_packages (
        ecosystem   TEXT    NOT NULL,
        package     TEXT    NOT NULL,
        env_name    TEXT    NOT NULL,
        env_version TEXT    NOT NULL,
        version     TEXT    NOT NULL,
        build       TEXT,
        PRIMARY KEY (ecosystem, package, env_name, env_version)
    ) WITHOUT ROWID;
    CREATE INDEX runs_by_env ON runs (env_name, env_version);
    CREATE INDEX models_by_env ON models (env_name, env_version);
    CREATE INDEX services_by_env ON services (env_name, env_version);
    ",
    // 9 (idempotent, so a workspace rolled back to an older schema in tests re-applies it):
    // compute targets (`local` and `container` are built in, not stored) and the
    // scheduler's side of runs sent to one (resources asked for, job id, partition, node,
    // state), and packs: a built environment as one blob, by lock hash, for nodes offline.
    "
    CREATE TABLE IF NOT EXISTS compute_targets (
        name       TEXT PRIMARY KEY,
        kind       TEXT    NOT NULL,
        settings   TEXT    NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS run_jobs (
        run_id     TEXT PRIMARY KEY,
        target     TEXT    NOT NULL,
        job_id     TEXT,
        resources  TEXT    NOT NULL,
        partition  TEXT,
        node       TEXT,
        state      TEXT    NOT NULL,
        reason     TEXT,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS packs (
        lock_hash  TEXT PRIMARY KEY,
        digest     TEXT    NOT NULL,
        size       INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
];

/// The migration that creates `locked_packages`; existing locks are indexed right after it.
const LOCKED_PACKAGES_MIGRATION: usize = 8;

pub(crate) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How much of the database file reads map (SQLite maps at most the file's size).
const MMAP_SIZE: i64 = 256 << 20;

pub(crate) fn open(path: &Path, create: bool) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let connection = Connection::open_with_flags(path, flags)
        .map_err(StoreError::db("opening the workspace database"))?;
    connection
        .busy_timeout(Duration::from_secs(30))
        .map_err(StoreError::db("setting the busy timeout"))?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(StoreError::db("enabling WAL"))?;
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(StoreError::db("setting synchronous mode"))?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(StoreError::db("enabling foreign keys"))?;
    // Locks and definitions are kilobytes each, kept in overflow pages: reading them through
    // a memory map saves a system call and a copy per page, a third of the system time of an
    // audit of every lock. SQLite still writes through the file, and reads the WAL as before.
    connection
        .pragma_update(None, "mmap_size", MMAP_SIZE)
        .map_err(StoreError::db("mapping the workspace database"))?;
    Ok(connection)
}

/// Brings the schema up to date; concurrent openers serialise on the write lock and only the
/// first applies anything.
pub(crate) fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let current = user_version(connection)?;
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::db("starting a migration"))?;
    let current = user_version(&transaction)?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        transaction
            .execute_batch(migration)
            .map_err(StoreError::db(&format!("applying migration {}", index + 1)))?;
        if index + 1 == LOCKED_PACKAGES_MIGRATION {
            crate::inventory::backfill(&transaction)?;
        }
    }
    transaction
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(StoreError::db("recording the schema version"))?;
    transaction
        .commit()
        .map_err(StoreError::db("committing a migration"))
}

fn user_version(connection: &Connection) -> Result<u32, StoreError> {
    connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(StoreError::db("reading the schema version"))
}
