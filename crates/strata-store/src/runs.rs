//! Experiment runs: status and times, the environment used, snapshot, outputs, logs,
//! metrics and tags.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::workspace::{Workspace, now_millis};

/// Where a run is in its life.
pub const QUEUED: &str = "Queued";
pub const PREPARING: &str = "Preparing";
pub const RUNNING: &str = "Running";
pub const COMPLETED: &str = "Completed";
pub const FAILED: &str = "Failed";
pub const CANCELED: &str = "Canceled";

/// One run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub id: String,
    pub experiment: String,
    pub status: String,
    pub env_name: String,
    pub env_version: strata_spec::EnvironmentVersion,
    pub lock_hash: Option<String>,
    pub script: String,
    pub arguments: Vec<String>,
    pub source_dir: String,
    /// Manifest digest of the snapshot.
    pub snapshot: Option<String>,
    pub run_dir: String,
    /// Manifest digests of `outputs/` and `logs/`, stored when the run ends.
    pub outputs: Option<String>,
    pub logs: Option<String>,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    #[serde(skip)]
    pub supervisor_pid: Option<i64>,
    #[serde(skip)]
    pub supervisor_start: Option<String>,
    #[serde(skip)]
    pub process_group: Option<i64>,
    /// Someone asked the run to stop; whoever executes it cancels it.
    #[serde(default)]
    pub cancel_requested: bool,
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub queued_at: i64,
    #[schemars(schema_with = "crate::schema::exact_time_or_null")]
    #[serde(
        serialize_with = "crate::workspace::serialize_optional_time",
        deserialize_with = "crate::workspace::deserialize_optional_time",
        default
    )]
    pub preparing_at: Option<i64>,
    #[schemars(schema_with = "crate::schema::exact_time_or_null")]
    #[serde(
        serialize_with = "crate::workspace::serialize_optional_time",
        deserialize_with = "crate::workspace::deserialize_optional_time",
        default
    )]
    pub started_at: Option<i64>,
    #[schemars(schema_with = "crate::schema::exact_time_or_null")]
    #[serde(
        serialize_with = "crate::workspace::serialize_optional_time",
        deserialize_with = "crate::workspace::deserialize_optional_time",
        default
    )]
    pub finished_at: Option<i64>,
    /// `local` or `container`.
    pub target: String,
    /// For container runs: the image (`REFERENCE@DIGEST`), once prepared.
    pub image: Option<String>,
}

impl RunRecord {
    /// A run just queued now on `target`, running nothing yet in no environment: callers set
    /// what it runs with struct update syntax.
    pub fn queued(id: &str, experiment: &str, run_dir: String, target: &str) -> Self {
        Self {
            id: id.to_string(),
            experiment: experiment.to_string(),
            status: QUEUED.to_string(),
            env_name: String::new(),
            env_version: strata_spec::EnvironmentVersion::number(0),
            lock_hash: None,
            script: String::new(),
            arguments: Vec::new(),
            source_dir: String::new(),
            snapshot: None,
            run_dir,
            outputs: None,
            logs: None,
            exit_code: None,
            error: None,
            supervisor_pid: None,
            supervisor_start: None,
            process_group: None,
            cancel_requested: false,
            queued_at: crate::now_millis(),
            preparing_at: None,
            started_at: None,
            finished_at: None,
            target: target.to_string(),
            image: None,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), COMPLETED | FAILED | CANCELED)
    }
}

/// A metric as logged: a scalar or a list, JSON-encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub name: String,
    /// `scalar` or `list`.
    pub kind: String,
    pub value: serde_json::Value,
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub logged_at: i64,
}

pub(crate) const COLUMNS: &str = "id, experiment, status, env_name, env_version, lock_hash, script, arguments, source_dir, snapshot, run_dir, outputs, logs, exit_code, error, supervisor_pid, supervisor_start, process_group, cancel_requested, queued_at, preparing_at, started_at, finished_at, target, image";

pub(crate) fn row_to_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let arguments: String = row.get(7)?;
    Ok(RunRecord {
        id: row.get(0)?,
        experiment: row.get(1)?,
        status: row.get(2)?,
        env_name: row.get(3)?,
        env_version: strata_spec::EnvironmentVersion::from_stored(row.get(4)?),
        lock_hash: row.get(5)?,
        script: row.get(6)?,
        arguments: serde_json::from_str(&arguments).unwrap_or_default(),
        source_dir: row.get(8)?,
        snapshot: row.get(9)?,
        run_dir: row.get(10)?,
        outputs: row.get(11)?,
        logs: row.get(12)?,
        exit_code: row.get(13)?,
        error: row.get(14)?,
        supervisor_pid: row.get(15)?,
        supervisor_start: row.get(16)?,
        process_group: row.get(17)?,
        cancel_requested: row.get(18)?,
        queued_at: row.get(19)?,
        preparing_at: row.get(20)?,
        started_at: row.get(21)?,
        finished_at: row.get(22)?,
        target: row.get(23)?,
        image: row.get(24)?,
    })
}

impl Workspace {
    /// Records a new run as `Queued`.
    pub fn create_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO runs (id, experiment, status, env_name, env_version, script, arguments, source_dir, run_dir, queued_at, snapshot, target)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    run.id,
                    run.experiment,
                    QUEUED,
                    run.env_name,
                    run.env_version.as_str(),
                    run.script,
                    serde_json::to_string(&run.arguments).unwrap_or_default(),
                    run.source_dir,
                    run.run_dir,
                    run.queued_at,
                    run.snapshot,
                    run.target
                ],
            )
            .map_err(StoreError::db("recording a run"))?;
        Ok(())
    }

    /// Records the image a container run runs in.
    pub fn set_run_image(&self, id: &str, image: &str) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE runs SET image = ?2 WHERE id = ?1",
                params![id, image],
            )
            .map_err(StoreError::db("recording a run's image"))?;
        Ok(())
    }

    /// `Preparing`: building the environment and taking the snapshot; the supervisor is known.
    pub fn run_preparing(
        &self,
        id: &str,
        supervisor_pid: u32,
        supervisor_start: &str,
    ) -> Result<(), StoreError> {
        self.update_run(
            "UPDATE runs SET status = ?2, preparing_at = ?3, supervisor_pid = ?4, supervisor_start = ?5 WHERE id = ?1",
            params![id, PREPARING, now_millis(), supervisor_pid, supervisor_start],
        )
    }

    /// What preparing produced: the lock of the environment version.
    pub fn run_prepared(&self, id: &str, lock_hash: &str) -> Result<(), StoreError> {
        self.update_run(
            "UPDATE runs SET lock_hash = ?2 WHERE id = ?1",
            params![id, lock_hash],
        )
    }

    /// `Running`, with the process group of the script.
    pub fn run_started(&self, id: &str, process_group: u32) -> Result<(), StoreError> {
        self.update_run(
            "UPDATE runs SET status = ?2, started_at = ?3, process_group = ?4 WHERE id = ?1",
            params![id, RUNNING, now_millis(), process_group],
        )
    }

    /// `Running` with no process to supervise: an interactive run, recorded by its caller.
    pub fn run_started_interactive(&self, id: &str) -> Result<(), StoreError> {
        self.update_run(
            "UPDATE runs SET status = ?2, started_at = ?3 WHERE id = ?1",
            params![id, RUNNING, now_millis()],
        )
    }

    /// A final status, with what the run left.
    pub fn run_finished(
        &self,
        id: &str,
        status: &str,
        exit_code: Option<i64>,
        error: Option<&str>,
        outputs: Option<&str>,
        logs: Option<&str>,
    ) -> Result<(), StoreError> {
        self.update_run(
            "UPDATE runs SET status = ?2, exit_code = ?3, error = ?4, outputs = COALESCE(?5, outputs), logs = COALESCE(?6, logs), finished_at = ?7 WHERE id = ?1",
            params![id, status, exit_code, error, outputs, logs, now_millis()],
        )
    }

    /// The combined log (`std_log.txt`) kept in a run's stored `logs/` tree, if it has one.
    pub fn stored_log(&self, logs: Option<&str>) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(digest) = logs else {
            return Ok(None);
        };
        let manifest = self.read_manifest(digest)?;
        match manifest.files.iter().find(|f| f.path == "std_log.txt") {
            Some(entry) => Ok(Some(self.blobs().read_verified(&entry.digest)?)),
            None => Ok(None),
        }
    }

    /// Marks a run for cancellation; its supervisor records `Canceled` when the script ends.
    pub fn request_cancel(&self, id: &str) -> Result<(), StoreError> {
        self.update_run(
            "UPDATE runs SET cancel_requested = 1 WHERE id = ?1",
            params![id],
        )
    }

    fn update_run(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), StoreError> {
        self.connection
            .execute(sql, params)
            .map_err(StoreError::db("updating a run"))?;
        Ok(())
    }

    pub fn get_run(&self, id: &str) -> Result<RunRecord, StoreError> {
        self.connection
            .query_row(
                &format!("SELECT {COLUMNS} FROM runs WHERE id = ?1"),
                params![id],
                row_to_run,
            )
            .optional()
            .map_err(StoreError::db("reading a run"))?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("Run `{id}`"),
            })
    }

    /// Runs, newest first, optionally of one experiment.
    pub fn list_runs(&self, experiment: Option<&str>) -> Result<Vec<RunRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT {COLUMNS} FROM runs WHERE ?1 IS NULL OR experiment = ?1 ORDER BY queued_at DESC, id DESC"
            ))
            .map_err(StoreError::db("listing runs"))?;
        let rows = statement
            .query_map(params![experiment], row_to_run)
            .map_err(StoreError::db("listing runs"))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::db("listing runs"))
    }

    /// Runs that have not finished, to check on their supervisors.
    pub fn active_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM runs WHERE status IN ('Queued', 'Preparing', 'Running')"
            ))
            .map_err(StoreError::db("listing active runs"))?;
        let rows = statement
            .query_map([], row_to_run)
            .map_err(StoreError::db("listing active runs"))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::db("listing active runs"))
    }

    /// Appends metrics in the order they were logged.
    pub fn add_metrics(&mut self, id: &str, metrics: &[Metric]) -> Result<(), StoreError> {
        let transaction = self
            .connection
            .transaction()
            .map_err(StoreError::db("storing metrics"))?;
        let start: i64 = transaction
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM run_metrics WHERE run_id = ?1",
                params![id],
                |row| row.get(0),
            )
            .map_err(StoreError::db("storing metrics"))?;
        for (index, metric) in metrics.iter().enumerate() {
            transaction
                .execute(
                    "INSERT INTO run_metrics (run_id, seq, name, kind, value, logged_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, start + 1 + i64::try_from(index).unwrap_or(0), metric.name, metric.kind, metric.value.to_string(), metric.logged_at],
                )
                .map_err(StoreError::db("storing metrics"))?;
        }
        transaction
            .commit()
            .map_err(StoreError::db("storing metrics"))
    }

    pub fn run_metrics(&self, id: &str) -> Result<Vec<Metric>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT name, kind, value, logged_at FROM run_metrics WHERE run_id = ?1 ORDER BY seq")
            .map_err(StoreError::db("reading metrics"))?;
        let rows = statement
            .query_map(params![id], |row| {
                let value: String = row.get(2)?;
                Ok(Metric {
                    name: row.get(0)?,
                    kind: row.get(1)?,
                    value: serde_json::from_str(&value).unwrap_or(serde_json::Value::Null),
                    logged_at: row.get(3)?,
                })
            })
            .map_err(StoreError::db("reading metrics"))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::db("reading metrics"))
    }

    pub fn set_run_tag(&self, id: &str, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO run_tags (run_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                params![id, key, value],
            )
            .map_err(StoreError::db("tagging a run"))?;
        Ok(())
    }

    pub fn run_tags(&self, id: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT key, value FROM run_tags WHERE run_id = ?1 ORDER BY key")
            .map_err(StoreError::db("reading tags"))?;
        let rows = statement
            .query_map(params![id], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(StoreError::db("reading tags"))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::db("reading tags"))
    }

    /// Lock hashes runs used (kept by `cache gc`).
    pub fn run_lock_hashes(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT DISTINCT lock_hash FROM runs WHERE lock_hash IS NOT NULL")
            .map_err(StoreError::db("listing run locks"))?;
        let rows = statement
            .query_map([], |row| row.get(0))
            .map_err(StoreError::db("listing run locks"))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::db("listing run locks"))
    }
}
