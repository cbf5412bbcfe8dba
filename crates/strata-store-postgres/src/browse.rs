//! A workspace's pages ([`BrowseStore`]) in PostgreSQL: the SQLite store's browsing queries,
//! each one statement over a window (`LIMIT`/`OFFSET`, one row more than shown), with `ILIKE`
//! for the SQLite `LIKE`'s ASCII case-insensitivity.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::{PgArguments, PgRow};
use strata_spec::EnvironmentVersion;
use strata_store::store::BrowseStore;
use strata_store::{
    BuildRecord, BuildRow, EnvironmentSummary, ExperimentSummary, ImageRecord, ModelRecord, Page,
    PageQuery, RunFilter, RunRecord, RunSort, ServiceRecord, StoreError,
};

use crate::environments::{SUMMARY_COLUMNS, row_to_build, row_to_summary};
use crate::error::db;
use crate::models::{MODEL_COLUMNS, SERVICE_COLUMNS, row_to_model, row_to_service};
use crate::runs::{RUN_COLUMNS, row_to_run};
use crate::workspace::PgWorkspace;

const BUILD_COLUMNS: &str =
    "id, name, version, lock_hash, status, prefix, log_digest, error, started_at, finished_at";

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn build_row(row: &PgRow) -> Result<BuildRow, sqlx::Error> {
    Ok(BuildRow {
        id: row.try_get("id")?,
        build: row_to_build(row)?,
    })
}

/// A scalar metric's value as a number (`NULL` for anything JSON holds that is not one).
const SCALAR: &str = "CASE WHEN json_typeof(m.value) = 'number' THEN m.value::text::float8 END";

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, PgArguments>;

/// Which runs of an experiment a run list shows: `$1` workspace, `$2` experiment, `$3` status
/// or `NULL`, `$4` a search pattern or `NULL` (id, script, tag keys and values).
const RUN_FILTERS: &str = "runs.workspace_id = $1 AND runs.experiment = $2
    AND ($3::text IS NULL OR runs.status = $3)
    AND ($4::text IS NULL OR runs.id ILIKE $4 ESCAPE '\\' OR runs.script ILIKE $4 ESCAPE '\\'
         OR EXISTS (SELECT 1 FROM run_tags t WHERE t.run_seq = runs.seq
                    AND (t.key ILIKE $4 ESCAPE '\\' OR t.value ILIKE $4 ESCAPE '\\')))";

/// A run's columns, qualified (a run list may join another table with a `seq`).
fn run_columns() -> String {
    RUN_COLUMNS
        .split(", ")
        .map(|column| format!("runs.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PgWorkspace {
    /// A statement over [`RUN_FILTERS`], its four parameters bound.
    fn filtered_runs<'q>(
        &self,
        sql: sqlx::AssertSqlSafe<String>,
        filter: &'q RunFilter,
        query: &PageQuery,
    ) -> Query<'q> {
        sqlx::query(sql)
            .bind(self.id)
            .bind(&filter.experiment)
            .bind(&filter.status)
            .bind(query.like_pattern())
    }

    /// Runs by the last value of a scalar metric: finished runs with a value first, walking
    /// the index of their last values in order; then every other run (still going, or
    /// without the metric), newest first. Only a window that reaches past the first part
    /// counts it and reads on among the others.
    async fn runs_by_metric(
        &self,
        filter: &RunFilter,
        query: &PageQuery,
        name: &str,
    ) -> Result<Page<RunRecord>, StoreError> {
        let direction = if filter.descending { "DESC" } else { "ASC" };
        // Without a status or a search, the window is taken from the index alone (a deep
        // page skips index entries, not run rows) and only its runs are read; ties go newest
        // first by the run's row.
        let unfiltered = filter.status.is_none() && query.like_pattern().is_none();
        let (valued, sql) = if unfiltered {
            let valued = "FROM run_metric_last last
                 WHERE last.workspace_id = $1 AND last.experiment = $2 AND last.name = $5
                   AND last.value IS NOT NULL AND $3::text IS NULL AND $4::text IS NULL";
            let sql = format!(
                "SELECT {columns} FROM (SELECT last.run_seq, last.value {valued}
                     ORDER BY last.value {direction}, last.run_seq DESC LIMIT $6 OFFSET $7) last
                 JOIN runs ON runs.seq = last.run_seq
                 ORDER BY last.value {direction}, last.run_seq DESC",
                columns = run_columns()
            );
            (valued.to_string(), sql)
        } else {
            let valued = format!(
                "FROM run_metric_last last JOIN runs ON runs.seq = last.run_seq
                 WHERE last.workspace_id = $1 AND last.experiment = $2 AND last.name = $5
                   AND last.value IS NOT NULL AND {RUN_FILTERS}"
            );
            let sql = format!(
                "SELECT {columns} {valued}
                 ORDER BY last.value {direction}, last.run_seq DESC LIMIT $6 OFFSET $7",
                columns = run_columns()
            );
            (valued, sql)
        };
        let wanted = int(query.limit).saturating_add(1);
        let statement = self
            .filtered_runs(sqlx::AssertSqlSafe(sql), filter, query)
            .bind(name)
            .bind(wanted)
            .bind(int(query.offset));
        let mut runs = self
            .rows("listing runs", statement)
            .await?
            .iter()
            .map(row_to_run)
            .collect::<Result<Vec<_>, _>>()?;
        let shown = i64::try_from(runs.len()).unwrap_or(i64::MAX);
        if shown < wanted {
            let count = format!("SELECT count(*) {valued}");
            let counted = self
                .filtered_runs(sqlx::AssertSqlSafe(count), filter, query)
                .bind(name);
            let with_value: i64 = self
                .rows("counting runs", counted)
                .await?
                .first()
                .map(|row| row.try_get(0))
                .transpose()
                .map_err(db("counting runs"))?
                .unwrap_or(0);
            let sql = format!(
                "SELECT {columns} FROM runs WHERE {RUN_FILTERS}
                   AND NOT EXISTS (SELECT 1 FROM run_metric_last last WHERE last.run_seq = runs.seq
                                   AND last.name = $5 AND last.value IS NOT NULL)
                 ORDER BY runs.queued_at DESC, runs.seq DESC LIMIT $6 OFFSET $7",
                columns = run_columns()
            );
            let statement = self
                .filtered_runs(sqlx::AssertSqlSafe(sql), filter, query)
                .bind(name)
                .bind(wanted - shown)
                .bind(int(query.offset).saturating_sub(with_value).max(0));
            for row in self.rows("listing runs", statement).await? {
                runs.push(row_to_run(&row)?);
            }
        }
        Ok(Page::from_rows(runs, query.limit))
    }

    async fn rows(&self, what: &'static str, query: Query<'_>) -> Result<Vec<PgRow>, StoreError> {
        query.fetch_all(self.pool()).await.map_err(db(what))
    }

    /// One window of `sql`, whose last two parameters are its `LIMIT` and `OFFSET`.
    async fn window<T>(
        &self,
        what: &'static str,
        query: Query<'_>,
        window: &PageQuery,
        map: impl Fn(&PgRow) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let query = query
            .bind(int(window.limit).saturating_add(1))
            .bind(int(window.offset));
        let rows = self.rows(what, query).await?;
        let items = rows.iter().map(map).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, window.limit))
    }
}

fn summary(row: &PgRow) -> Result<EnvironmentSummary, StoreError> {
    row_to_summary(row).map_err(db("reading an environment"))
}

fn model(row: &PgRow) -> Result<ModelRecord, StoreError> {
    row_to_model(row).map_err(db("reading a model"))
}

#[async_trait]
impl BrowseStore for PgWorkspace {
    async fn environment_page(
        &self,
        query: &PageQuery,
    ) -> Result<Page<EnvironmentSummary>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM environments e
             WHERE e.workspace_id = $1
               AND e.id IN (SELECT MAX(id) FROM environments WHERE workspace_id = $1 GROUP BY name)
               AND NOT e.anonymous
               AND ($2::text IS NULL OR e.name ILIKE $2 ESCAPE '\\')
             ORDER BY e.name LIMIT $3 OFFSET $4"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(query.like_pattern());
        self.window("listing environments", statement, query, summary)
            .await
    }

    async fn environment_version_page(
        &self,
        name: &str,
        query: &PageQuery,
    ) -> Result<Page<EnvironmentSummary>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM environments
             WHERE workspace_id = $1 AND name = $2
               AND ($3::text IS NULL OR version ILIKE $3 ESCAPE '\\')
             ORDER BY id DESC LIMIT $4 OFFSET $5"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(name)
            .bind(query.like_pattern());
        self.window("listing versions", statement, query, summary)
            .await
    }

    async fn last_build(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<BuildRecord>, StoreError> {
        let mut builds = self.builds_of_version(name, version, 1).await?;
        Ok(builds.pop().map(|row| row.build))
    }

    async fn builds_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<BuildRow>, StoreError> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE workspace_id = $1 AND name = $2 AND version = $3
             ORDER BY id DESC LIMIT $4"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(name)
            .bind(version.as_str())
            .bind(int(limit));
        self.rows("listing builds", statement)
            .await?
            .iter()
            .map(build_row)
            .collect::<Result<_, _>>()
            .map_err(db("listing builds"))
    }

    async fn build_by_id(&self, id: i64) -> Result<Option<BuildRow>, StoreError> {
        let sql = format!("SELECT {BUILD_COLUMNS} FROM builds WHERE workspace_id = $1 AND id = $2");
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(self.id).bind(id);
        self.rows("reading a build", statement)
            .await?
            .first()
            .map(build_row)
            .transpose()
            .map_err(db("reading a build"))
    }

    async fn images_of_version(
        &self,
        _name: &str,
        _version: &EnvironmentVersion,
    ) -> Result<Option<Vec<ImageRecord>>, StoreError> {
        // The server's schema has no image records: an image lives in the engine and registry
        // of whoever built it, and its lock is what the server knows.
        Ok(None)
    }

    async fn runs_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs
             WHERE workspace_id = $1 AND env_name = $2 AND env_version = $3
             ORDER BY queued_at DESC, seq DESC LIMIT $4"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(name)
            .bind(version.as_str())
            .bind(int(limit));
        self.rows("listing runs", statement)
            .await?
            .iter()
            .map(row_to_run)
            .collect()
    }

    async fn models_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<ModelRecord>, StoreError> {
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models
             WHERE workspace_id = $1 AND env_name = $2 AND env_version = $3
             ORDER BY created_at DESC, name, version DESC LIMIT $4"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(name)
            .bind(version.as_str())
            .bind(int(limit));
        self.rows("listing models", statement)
            .await?
            .iter()
            .map(model)
            .collect()
    }

    async fn services_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<ServiceRecord>, StoreError> {
        let sql = format!(
            "SELECT {SERVICE_COLUMNS} FROM services
             WHERE workspace_id = $1 AND env_name = $2 AND env_version = $3
             ORDER BY name LIMIT $4"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(name)
            .bind(version.as_str())
            .bind(int(limit));
        self.rows("listing services", statement)
            .await?
            .iter()
            .map(row_to_service)
            .collect()
    }

    async fn experiment_page(
        &self,
        query: &PageQuery,
    ) -> Result<Page<ExperimentSummary>, StoreError> {
        let statement = sqlx::query(
            "SELECT experiment, COUNT(*) AS runs, MAX(queued_at) AS last_queued_at FROM runs
             WHERE workspace_id = $1 AND ($2::text IS NULL OR experiment ILIKE $2 ESCAPE '\\')
             GROUP BY experiment ORDER BY experiment LIMIT $3 OFFSET $4",
        )
        .bind(self.id)
        .bind(query.like_pattern());
        self.window("listing experiments", statement, query, |row| {
            let get = || -> Result<ExperimentSummary, sqlx::Error> {
                Ok(ExperimentSummary {
                    name: row.try_get("experiment")?,
                    runs: u64::try_from(row.try_get::<i64, _>("runs")?).unwrap_or(0),
                    last_queued_at: row.try_get("last_queued_at")?,
                })
            };
            get().map_err(db("listing experiments"))
        })
        .await
    }

    async fn run_page(
        &self,
        filter: &RunFilter,
        query: &PageQuery,
    ) -> Result<Page<RunRecord>, StoreError> {
        let direction = if filter.descending { "DESC" } else { "ASC" };
        let order = match &filter.sort {
            RunSort::Queued => format!("queued_at {direction}, runs.seq {direction}"),
            RunSort::Status => format!("status {direction}, queued_at DESC, runs.seq DESC"),
            RunSort::Duration => format!(
                "(finished_at - COALESCE(started_at, queued_at)) {direction} NULLS LAST, queued_at DESC, runs.seq DESC"
            ),
            RunSort::Environment => format!(
                "env_name {direction}, env_version {direction}, queued_at DESC, runs.seq DESC"
            ),
            RunSort::Metric(name) => return self.runs_by_metric(filter, query, name).await,
        };
        let sql = format!(
            "SELECT {columns} FROM runs WHERE {RUN_FILTERS} ORDER BY {order} LIMIT $5 OFFSET $6",
            columns = run_columns()
        );
        let statement = self.filtered_runs(sqlx::AssertSqlSafe(sql), filter, query);
        self.window("listing runs", statement, query, row_to_run)
            .await
    }

    async fn last_scalar_metrics(&self, run_id: &str) -> Result<Vec<(String, f64)>, StoreError> {
        // Live, not from `run_metric_last`: the run may still be logging.
        let sql = format!(
            "SELECT DISTINCT ON (m.name) m.name, {SCALAR} AS value FROM run_metrics m
             WHERE m.run_seq = (SELECT seq FROM runs WHERE workspace_id = $1 AND id = $2)
               AND m.kind = 'scalar'
             ORDER BY m.name, m.seq DESC"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(run_id);
        self.rows("reading metrics", statement)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("name")?,
                    row.try_get::<Option<f64>, _>("value")?.unwrap_or(f64::NAN),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db("reading metrics"))
    }

    async fn model_page(&self, query: &PageQuery) -> Result<Page<ModelRecord>, StoreError> {
        let sql = format!(
            "SELECT DISTINCT ON (name) {MODEL_COLUMNS} FROM models
             WHERE workspace_id = $1 AND ($2::text IS NULL OR name ILIKE $2 ESCAPE '\\')
             ORDER BY name, version DESC LIMIT $3 OFFSET $4"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(query.like_pattern());
        self.window("listing models", statement, query, model).await
    }

    async fn model_version_page(
        &self,
        name: &str,
        query: &PageQuery,
    ) -> Result<Page<ModelRecord>, StoreError> {
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE workspace_id = $1 AND name = $2
             ORDER BY version DESC LIMIT $3 OFFSET $4"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(name);
        self.window("listing model versions", statement, query, model)
            .await
    }

    async fn models_of_run(&self, run_id: &str) -> Result<Vec<ModelRecord>, StoreError> {
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE workspace_id = $1 AND run_id = $2
             ORDER BY name, version LIMIT 100"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(run_id);
        self.rows("listing models", statement)
            .await?
            .iter()
            .map(model)
            .collect()
    }

    async fn service_page(&self, query: &PageQuery) -> Result<Page<ServiceRecord>, StoreError> {
        let sql = format!(
            "SELECT {SERVICE_COLUMNS} FROM services
             WHERE workspace_id = $1 AND ($2::text IS NULL OR name ILIKE $2 ESCAPE '\\')
             ORDER BY name LIMIT $3 OFFSET $4"
        );
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(query.like_pattern());
        self.window("listing services", statement, query, row_to_service)
            .await
    }
}
