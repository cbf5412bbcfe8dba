//! Runs: their life, metrics, tags and combined log (stored in chunks at byte offsets).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};
use strata_store::store::{
    Cursor, CursorPage, LogChunk, RunQuery, RunUpdate, state_tag, tag_matches,
};
use strata_store::{Metric, RunRecord, StoreError};

use crate::error::{corrupt, db, is_unique_violation};
use crate::workspace::{PgWorkspace, after, fetch};

pub(crate) const RUN_COLUMNS: &str = "seq, id, experiment, status, env_name, env_version, lock_hash, script, arguments::text AS arguments, source_dir, snapshot, run_dir, outputs, logs, exit_code, error, supervisor_pid, supervisor_start, process_group, cancel_requested, queued_at, preparing_at, started_at, finished_at, target, image";

pub(crate) fn row_to_run(row: &PgRow) -> Result<RunRecord, StoreError> {
    let get = || -> Result<(RunRecord, String), sqlx::Error> {
        Ok((
            RunRecord {
                id: row.try_get("id")?,
                experiment: row.try_get("experiment")?,
                status: row.try_get("status")?,
                env_name: row.try_get("env_name")?,
                env_version: strata_spec::EnvironmentVersion::from_stored(
                    row.try_get("env_version")?,
                ),
                lock_hash: row.try_get("lock_hash")?,
                script: row.try_get("script")?,
                arguments: Vec::new(),
                source_dir: row.try_get("source_dir")?,
                snapshot: row.try_get("snapshot")?,
                run_dir: row.try_get("run_dir")?,
                outputs: row.try_get("outputs")?,
                logs: row.try_get("logs")?,
                exit_code: row.try_get("exit_code")?,
                error: row.try_get("error")?,
                supervisor_pid: row.try_get("supervisor_pid")?,
                supervisor_start: row.try_get("supervisor_start")?,
                process_group: row.try_get("process_group")?,
                cancel_requested: row.try_get("cancel_requested")?,
                queued_at: row.try_get("queued_at")?,
                preparing_at: row.try_get("preparing_at")?,
                started_at: row.try_get("started_at")?,
                finished_at: row.try_get("finished_at")?,
                target: row.try_get("target")?,
                image: row.try_get("image")?,
            },
            row.try_get("arguments")?,
        ))
    };
    let (mut run, arguments) = get().map_err(db("reading a run"))?;
    run.arguments = serde_json::from_str(&arguments)
        .map_err(corrupt(format!("arguments of run {}", run.id)))?;
    Ok(run)
}

/// A batch of metrics as the columns `UNNEST` takes.
fn metric_columns(metrics: &[Metric]) -> (Vec<&str>, Vec<&str>, Vec<String>, Vec<i64>) {
    (
        metrics.iter().map(|m| m.name.as_str()).collect(),
        metrics.iter().map(|m| m.kind.as_str()).collect(),
        metrics.iter().map(|m| m.value.to_string()).collect(),
        metrics.iter().map(|m| m.logged_at).collect(),
    )
}

/// Writes the last value of each scalar metric of a finished run (see `run_metric_last` in
/// the migrations).
async fn keep_last_values(connection: &mut PgConnection, seq: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO run_metric_last (run_seq, name, seq, value, workspace_id, experiment)
         SELECT DISTINCT ON (m.name) m.run_seq, m.name, m.seq,
                CASE WHEN json_typeof(m.value) = 'number' THEN m.value::text::float8 END,
                r.workspace_id, r.experiment
         FROM run_metrics m JOIN runs r ON r.seq = m.run_seq
         WHERE m.run_seq = $1 AND m.kind = 'scalar'
         ORDER BY m.name, m.seq DESC
         ON CONFLICT (run_seq, name) DO UPDATE SET seq = EXCLUDED.seq, value = EXCLUDED.value
             WHERE run_metric_last.seq < EXCLUDED.seq",
    )
    .bind(seq)
    .execute(connection)
    .await
    .map_err(db("keeping a run's last metric values"))?;
    Ok(())
}

/// Where a run's log ends: the end of its last chunk.
async fn log_length(connection: &mut PgConnection, seq: i64) -> Result<u64, StoreError> {
    let end: Option<i64> = sqlx::query(
        "SELECT \"offset\" + length(bytes) FROM run_log_chunks WHERE run_seq = $1
         ORDER BY \"offset\" DESC LIMIT 1",
    )
    .bind(seq)
    .fetch_optional(connection)
    .await
    .and_then(|row| row.map(|r| r.try_get(0)).transpose())
    .map_err(db("reading a run log"))?;
    Ok(end.map_or(0, |end| u64::try_from(end).unwrap_or(0)))
}

/// The log's bytes in `start..end` (both within its length).
async fn log_bytes(
    connection: &mut PgConnection,
    seq: i64,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, StoreError> {
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let rows = sqlx::query(
        "SELECT \"offset\", bytes FROM run_log_chunks
         WHERE run_seq = $1 AND \"offset\" < $3 AND \"offset\" + length(bytes) > $2
         ORDER BY \"offset\"",
    )
    .bind(seq)
    .bind(as_i64(start))
    .bind(as_i64(end))
    .fetch_all(connection)
    .await
    .map_err(db("reading a run log"))?;
    let mut out = Vec::new();
    for row in rows {
        let offset: i64 = row.try_get(0).map_err(db("reading a run log"))?;
        let bytes: Vec<u8> = row.try_get(1).map_err(db("reading a run log"))?;
        let offset = u64::try_from(offset).unwrap_or(0);
        let from = usize::try_from(start.saturating_sub(offset)).unwrap_or(usize::MAX);
        let to = usize::try_from(end.saturating_sub(offset)).unwrap_or(usize::MAX);
        out.extend_from_slice(&bytes[from.min(bytes.len())..to.min(bytes.len())]);
    }
    Ok(out)
}

impl PgWorkspace {
    pub(crate) async fn run_in(
        &self,
        connection: &mut PgConnection,
        id: &str,
    ) -> Result<RunRecord, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE workspace_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(id)
            .fetch_optional(connection)
            .await
            .map_err(db("reading a run"))?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("Run `{id}`"),
            })?;
        row_to_run(&row)
    }

    /// Creates a run, `Queued`, whose snapshot blob (if any) the workspace holds.
    pub(crate) async fn new_run(&self, run: &RunRecord) -> Result<RunRecord, StoreError> {
        // One statement, so one round trip and atomic without a transaction of its own: the
        // run only when its snapshot's blob is granted, and its audit row only with the run.
        let sql = format!(
            "WITH granted AS (
                 SELECT $12::text IS NULL
                     OR EXISTS (SELECT 1 FROM blob_grants WHERE workspace_id = $1 AND digest = $12) AS ok
             ),
             inserted AS (
                 INSERT INTO runs (workspace_id, id, experiment, status, env_name, env_version, script, arguments, source_dir, run_dir, queued_at, snapshot, target)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8::json, $9, $10, $11, $12, $13 FROM granted WHERE ok
                 RETURNING {RUN_COLUMNS}
             ),
             audited AS ({audit} SELECT $14, $15, $16, $17, $18, $19, $20 FROM inserted)
             SELECT granted.ok AS granted, inserted.* FROM granted LEFT JOIN inserted ON true",
            audit = crate::audit::INSERT
        );
        let arguments = serde_json::to_string(&run.arguments).unwrap_or_default();
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(&run.id)
            .bind(&run.experiment)
            .bind(strata_store::QUEUED)
            .bind(&run.env_name)
            .bind(run.env_version.as_str())
            .bind(&run.script)
            .bind(arguments)
            .bind(&run.source_dir)
            .bind(&run.run_dir)
            .bind(run.queued_at)
            .bind(&run.snapshot)
            .bind(&run.target);
        let granted = crate::audit::bind(
            query,
            &self.actor,
            Some(&self.name),
            "run.create",
            format!("runs/{}", run.id),
        )
        .fetch_one(self.pool())
        .await;
        let row = match granted {
            Ok(row) => row,
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::InvalidReference {
                    reference: run.id.clone(),
                    reason: "a run with this id already exists".to_string(),
                });
            }
            Err(error) => return Err(db("recording a run")(error)),
        };
        if !row
            .try_get::<bool, _>("granted")
            .map_err(db("recording a run"))?
        {
            return Err(StoreError::MissingBlob {
                what: format!("The snapshot of run `{}`", run.id),
                digest: run.snapshot.clone().unwrap_or_default(),
            });
        }
        row_to_run(&row)
    }

    /// Moves a run on. A finished run keeps its state (only a later `Finished` or a cancel
    /// request still changes it), as in the SQLite store.
    ///
    /// With `if_match`, only from the state it names: the row is locked (`FOR UPDATE`) before
    /// it is read and compared, so a writer in another server process holding the same tag
    /// waits for this transaction and then compares against the state it left.
    pub(crate) async fn run_update(
        &self,
        id: &str,
        update: &RunUpdate,
        if_match: Option<&str>,
    ) -> Result<RunRecord, StoreError> {
        let mut tx = self.begin("updating a run").await?;
        // The row lock orders concurrent updates of one run.
        let seq = self.run_seq(&mut tx, id, true).await?;
        let run = self.run_in(&mut tx, id).await?;
        if let Some(if_match) = if_match
            && !tag_matches(if_match, &state_tag(&run))
        {
            return Err(StoreError::PreconditionFailed {
                what: format!("Run `{id}`"),
                expected: if_match.to_string(),
            });
        }
        let now = strata_store::now_millis();
        let query = match update {
            RunUpdate::Preparing
            | RunUpdate::Prepared { .. }
            | RunUpdate::Running
            | RunUpdate::Files { .. }
                if run.is_finished() =>
            {
                return Ok(run);
            }
            RunUpdate::Preparing => {
                sqlx::query("UPDATE runs SET status = $2, preparing_at = $3 WHERE seq = $1")
                    .bind(seq)
                    .bind(strata_store::PREPARING)
                    .bind(now)
            }
            RunUpdate::Prepared { lock_hash, image } => sqlx::query(
                "UPDATE runs SET lock_hash = $2, image = COALESCE($3, image) WHERE seq = $1",
            )
            .bind(seq)
            .bind(lock_hash.clone())
            .bind(image.clone()),
            RunUpdate::Running => {
                sqlx::query("UPDATE runs SET status = $2, started_at = $3 WHERE seq = $1")
                    .bind(seq)
                    .bind(strata_store::RUNNING)
                    .bind(now)
            }
            RunUpdate::Finished {
                status,
                exit_code,
                error,
                outputs,
                logs,
            } => {
                strata_store::store::check_finished_status(status)?;
                for digest in [outputs, logs].into_iter().flatten() {
                    self.require_blob(&mut tx, Some(digest), || format!("Run `{id}`"))
                        .await?;
                }
                sqlx::query(
                    "UPDATE runs SET status = $2, exit_code = $3, error = $4, outputs = COALESCE($5, outputs),
                       logs = COALESCE($6, logs), finished_at = $7 WHERE seq = $1",
                )
                .bind(seq)
                .bind(status.clone())
                .bind(*exit_code)
                .bind(error.clone())
                .bind(outputs.clone())
                .bind(logs.clone())
                .bind(now)
            }
            RunUpdate::Files { outputs, logs } => {
                for digest in [outputs, logs].into_iter().flatten() {
                    self.require_blob(&mut tx, Some(digest), || format!("Run `{id}`"))
                        .await?;
                }
                sqlx::query(
                    "UPDATE runs SET outputs = COALESCE($2, outputs), logs = COALESCE($3, logs) WHERE seq = $1",
                )
                .bind(seq)
                .bind(outputs.clone())
                .bind(logs.clone())
            }
            RunUpdate::CancelRequested => {
                sqlx::query("UPDATE runs SET cancel_requested = TRUE WHERE seq = $1").bind(seq)
            }
        };
        query
            .execute(&mut *tx)
            .await
            .map_err(db("updating a run"))?;
        self.audit(&mut tx, "run.update", &format!("runs/{id}"))
            .await?;
        let updated = self.run_in(&mut tx, id).await?;
        if updated.is_finished() && !run.is_finished() {
            keep_last_values(&mut tx, seq).await?;
        }
        tx.commit().await.map_err(db("updating a run"))?;
        Ok(updated)
    }

    /// Runs, newest first; the cursor is the last run's queue time and row.
    pub(crate) async fn runs(
        &self,
        query: &RunQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<RunRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs
             WHERE workspace_id = $1 AND ($2::text IS NULL OR experiment = $2)
               AND ($3::text IS NULL OR status = $3)
               AND ($4::bigint IS NULL OR queued_at < $4 OR (queued_at = $4 AND seq < $5))
             ORDER BY queued_at DESC, seq DESC LIMIT $6"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(&query.experiment)
            .bind(&query.status)
            .bind(after.as_ref().map(|c| c.key.parse::<i64>().unwrap_or(0)))
            .bind(after.as_ref().map_or(0, |c| c.id))
            .bind(fetch(limit))
            .fetch_all(self.pool())
            .await
            .map_err(db("listing runs"))?;
        let mut page = Vec::with_capacity(rows.len());
        for row in &rows {
            let run = row_to_run(row)?;
            let seq: i64 = row.try_get("seq").map_err(db("listing runs"))?;
            let cursor = Cursor::new(run.queued_at.to_string(), seq);
            page.push((run, cursor));
        }
        Ok(Cursor::page(page, limit))
    }

    pub(crate) async fn metrics_add(&self, id: &str, metrics: &[Metric]) -> Result<(), StoreError> {
        if metrics.is_empty() {
            return self.metrics_add_in_transaction(id, metrics).await;
        }
        // A running run's batch is one statement, so one round trip and atomic: the metrics
        // and their audit row, or (for a run that is not there, or finished) nothing.
        let sql = format!(
            "WITH run AS (
                 SELECT seq, finished_at IS NOT NULL AS finished FROM runs
                 WHERE workspace_id = $1 AND id = $2
             ),
             inserted AS (
                 INSERT INTO run_metrics (run_seq, seq, name, kind, value, logged_at)
                 SELECT run.seq, nextval('run_metrics_order'), m.name, m.kind, m.value::json, m.logged_at
                 FROM run, UNNEST($3::text[], $4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY
                      AS m(name, kind, value, logged_at, position)
                 WHERE NOT run.finished
                 ORDER BY m.position
             ),
             audited AS ({audit} SELECT $7, $8, $9, $10, $11, $12, $13 FROM run WHERE NOT run.finished)
             SELECT finished FROM run",
            audit = crate::audit::INSERT
        );
        let (names, kinds, values, times) = metric_columns(metrics);
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(id)
            .bind(&names)
            .bind(&kinds)
            .bind(&values)
            .bind(&times);
        let finished = crate::audit::bind(
            query,
            &self.actor,
            Some(&self.name),
            "run.metrics",
            format!("runs/{id}/metrics"),
        )
        .fetch_optional(self.pool())
        .await
        .and_then(|row| row.map(|row| row.try_get::<bool, _>(0)).transpose())
        .map_err(db("storing metrics"))?;
        match finished {
            None => Err(StoreError::NotFound {
                what: format!("Run `{id}`"),
            }),
            Some(false) => Ok(()),
            // A batch after the end (rare): its last values move with it, in a transaction.
            Some(true) => self.metrics_add_in_transaction(id, metrics).await,
        }
    }

    async fn metrics_add_in_transaction(
        &self,
        id: &str,
        metrics: &[Metric],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin("storing metrics").await?;
        let (seq, finished): (i64, bool) = sqlx::query(
            "SELECT seq, finished_at IS NOT NULL FROM runs WHERE workspace_id = $1 AND id = $2",
        )
        .bind(self.id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .and_then(|row| {
            row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .transpose()
        })
        .map_err(db("storing metrics"))?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("Run `{id}`"),
        })?;
        if metrics.is_empty() {
            return Ok(());
        }
        // One statement for the batch; the order comes from a sequence, so concurrent batches
        // of one run need no lock to number their metrics one after the other.
        let (names, kinds, values, times) = metric_columns(metrics);
        sqlx::query(
            "INSERT INTO run_metrics (run_seq, seq, name, kind, value, logged_at)
             SELECT $1, nextval('run_metrics_order'), m.name, m.kind, m.value::json, m.logged_at
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY
                  AS m(name, kind, value, logged_at, position)
             ORDER BY m.position",
        )
        .bind(seq)
        .bind(&names)
        .bind(&kinds)
        .bind(&values)
        .bind(&times)
        .execute(&mut *tx)
        .await
        .map_err(db("storing metrics"))?;
        if finished {
            // A batch after the end (rare): the finished run's last values move with it.
            keep_last_values(&mut tx, seq).await?;
        }
        self.audit(&mut tx, "run.metrics", &format!("runs/{id}/metrics"))
            .await?;
        tx.commit().await.map_err(db("storing metrics"))
    }

    pub(crate) async fn metrics(&self, id: &str) -> Result<Vec<Metric>, StoreError> {
        let mut connection = self.pool().acquire().await.map_err(db("reading metrics"))?;
        let seq = self.run_seq(&mut connection, id, false).await?;
        let rows = sqlx::query(
            "SELECT name, kind, value::text AS value, logged_at FROM run_metrics WHERE run_seq = $1 ORDER BY seq",
        )
        .bind(seq)
        .fetch_all(&mut *connection)
        .await
        .map_err(db("reading metrics"))?;
        rows.iter()
            .map(|row| {
                let value: String = row.try_get("value")?;
                Ok(Metric {
                    name: row.try_get("name")?,
                    kind: row.try_get("kind")?,
                    value: serde_json::from_str(&value).unwrap_or(serde_json::Value::Null),
                    logged_at: row.try_get("logged_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db("reading metrics"))
    }

    pub(crate) async fn tag(
        &self,
        id: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin("tagging a run").await?;
        let seq = self.run_seq(&mut tx, id, false).await?;
        sqlx::query(
            "INSERT INTO run_tags (run_seq, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (run_seq, key) DO UPDATE SET value = excluded.value",
        )
        .bind(seq)
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(db("tagging a run"))?;
        self.audit(&mut tx, "run.tag", &format!("runs/{id}/tags/{key}"))
            .await?;
        tx.commit().await.map_err(db("tagging a run"))
    }

    pub(crate) async fn tags(&self, id: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let mut connection = self.pool().acquire().await.map_err(db("reading tags"))?;
        let seq = self.run_seq(&mut connection, id, false).await?;
        let rows = sqlx::query("SELECT key, value FROM run_tags WHERE run_seq = $1 ORDER BY key")
            .bind(seq)
            .fetch_all(&mut *connection)
            .await
            .map_err(db("reading tags"))?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db("reading tags"))
    }

    /// Appends at `offset`, which must be the log's length; a retried append whose text is
    /// already there is a success (the rules of the SQLite store's log file).
    pub(crate) async fn log_append(
        &self,
        id: &str,
        offset: u64,
        text: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin("appending to a run log").await?;
        // Locked: appends of one run are applied one at a time, so the length stays true.
        let seq = self.run_seq(&mut tx, id, true).await?;
        let length = log_length(&mut tx, seq).await?;
        let end = offset + text.len() as u64;
        if offset == length {
            if !text.is_empty() {
                sqlx::query(
                    "INSERT INTO run_log_chunks (run_seq, \"offset\", bytes) VALUES ($1, $2, $3)",
                )
                .bind(seq)
                .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                .bind(text.as_bytes())
                .execute(&mut *tx)
                .await
                .map_err(db("appending to a run log"))?;
                self.audit(&mut tx, "run.log", &format!("runs/{id}/log"))
                    .await?;
                tx.commit().await.map_err(db("appending to a run log"))?;
            }
            return Ok(end);
        }
        if end <= length && log_bytes(&mut tx, seq, offset, end).await? == text.as_bytes() {
            return Ok(length);
        }
        Err(StoreError::LogOffset {
            run: id.to_string(),
            offset,
            length,
        })
    }

    /// At most `max` bytes from `offset`, cut back to a character boundary.
    pub(crate) async fn log_read(
        &self,
        id: &str,
        offset: u64,
        max: u64,
    ) -> Result<LogChunk, StoreError> {
        let mut connection = self
            .pool()
            .acquire()
            .await
            .map_err(db("reading a run log"))?;
        let seq = self.run_seq(&mut connection, id, false).await?;
        let length = log_length(&mut connection, seq).await?;
        let start = offset.min(length);
        let mut end = start.saturating_add(max.max(1)).min(length);
        // One byte more, to see whether `end` falls inside a UTF-8 sequence.
        let window = log_bytes(&mut connection, seq, start, (end + 1).min(length)).await?;
        let at = |position: u64| {
            usize::try_from(position - start)
                .ok()
                .and_then(|i| window.get(i).copied())
        };
        while end > start && end < length && at(end).is_some_and(|b| (b & 0xC0) == 0x80) {
            end -= 1;
        }
        let text_end = usize::try_from(end - start)
            .unwrap_or(usize::MAX)
            .min(window.len());
        Ok(LogChunk {
            offset: start,
            text: String::from_utf8_lossy(&window[..text_end]).into_owned(),
            next_offset: end,
        })
    }
}
