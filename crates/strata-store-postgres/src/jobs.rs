//! The scheduler's job of a run: one row beside the run, merged as the submitting machine
//! reports it, each change audited in its transaction.

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use strata_store::{RunJob, StoreError};

use crate::error::db;
use crate::workspace::PgWorkspace;

fn row_to_job(row: &PgRow) -> Result<RunJob, StoreError> {
    let what = "reading a run's job";
    let resources: String = row.try_get("resources").map_err(db(what))?;
    Ok(RunJob {
        run_id: row.try_get("run_id").map_err(db(what))?,
        target: row.try_get("target").map_err(db(what))?,
        job_id: row.try_get("job_id").map_err(db(what))?,
        resources: serde_json::from_str(&resources).unwrap_or(serde_json::Value::Null),
        partition: row.try_get("partition").map_err(db(what))?,
        node: row.try_get("node").map_err(db(what))?,
        state: row.try_get("state").map_err(db(what))?,
        reason: row.try_get("reason").map_err(db(what))?,
        updated_at: row.try_get("updated_at").map_err(db(what))?,
    })
}

impl PgWorkspace {
    pub(crate) async fn job_set(&self, job: &RunJob) -> Result<(), StoreError> {
        let what = "recording a run's job";
        let mut tx = self.begin(what).await?;
        let seq = self.run_seq(&mut tx, &job.run_id, false).await?;
        // As the embedded store merges it: what a report leaves out stays as recorded.
        sqlx::query(
            "INSERT INTO run_jobs (run_seq, target, job_id, resources, partition, node, state, reason, updated_at)
             VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)
             ON CONFLICT (run_seq) DO UPDATE SET job_id = COALESCE(excluded.job_id, run_jobs.job_id),
               target = CASE WHEN excluded.target = '' THEN run_jobs.target ELSE excluded.target END,
               resources = CASE WHEN excluded.resources = 'null'::jsonb THEN run_jobs.resources ELSE excluded.resources END,
               partition = COALESCE(excluded.partition, run_jobs.partition),
               node = COALESCE(excluded.node, run_jobs.node), state = excluded.state,
               reason = excluded.reason, updated_at = excluded.updated_at",
        )
        .bind(seq)
        .bind(&job.target)
        .bind(&job.job_id)
        .bind(job.resources.to_string())
        .bind(&job.partition)
        .bind(&job.node)
        .bind(&job.state)
        .bind(&job.reason)
        .bind(job.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db(what))?;
        self.audit(&mut tx, "run.job", &format!("runs/{}/job", job.run_id))
            .await?;
        tx.commit().await.map_err(db(what))
    }

    pub(crate) async fn job(&self, run_id: &str) -> Result<Option<RunJob>, StoreError> {
        let what = "reading a run's job";
        let mut connection = self.pool().acquire().await.map_err(db(what))?;
        let seq = self.run_seq(&mut connection, run_id, false).await?;
        sqlx::query(
            "SELECT $2::text AS run_id, target, job_id, resources::text AS resources, partition,
                    node, state, reason, updated_at
             FROM run_jobs WHERE run_seq = $1",
        )
        .bind(seq)
        .bind(run_id)
        .fetch_optional(&mut *connection)
        .await
        .map_err(db(what))?
        .as_ref()
        .map(row_to_job)
        .transpose()
    }
}
