//! Paged, searchable reads for browsing a workspace (the web page): every list is one
//! `LIMIT`/`OFFSET` query that asks for one row more than it shows, so nothing loads a whole
//! table and no count query is needed to know whether there is a next page.

use rusqlite::{OptionalExtension, params};
use strata_spec::EnvironmentVersion;

use crate::environments::EnvironmentSummary;
use crate::error::StoreError;
use crate::images::ImageRecord;
use crate::locks::BuildRecord;
use crate::models::ModelRecord;
use crate::runs::RunRecord;
use crate::services::ServiceRecord;
use crate::workspace::Workspace;

/// Which rows of a list: a window and an optional substring search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageQuery {
    /// A substring to look for (case-insensitive for ASCII, as SQLite's `LIKE`).
    pub search: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// One window of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Whether rows follow this window.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// The window of `rows` fetched with one row more than `limit`: that extra row only says
    /// whether more follow.
    pub fn from_rows(mut items: Vec<T>, limit: u64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let has_more = items.len() > limit;
        items.truncate(limit);
        Self { items, has_more }
    }
}

/// An experiment: its name and how many runs it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentSummary {
    pub name: String,
    pub runs: u64,
    /// When its newest run was queued (milliseconds since the epoch).
    pub last_queued_at: i64,
}

/// How a run list is ordered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RunSort {
    #[default]
    Queued,
    Status,
    Duration,
    Environment,
    /// The last logged scalar value of a metric, for finished runs; runs without one (still
    /// going, or never logged it) come after them, newest first.
    Metric(String),
}

/// Which runs of an experiment, in which order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunFilter {
    pub experiment: String,
    /// Only runs with this status.
    pub status: Option<String>,
    pub sort: RunSort,
    pub descending: bool,
}

/// A build, with its row id (to link to its log).
#[derive(Debug, Clone)]
pub struct BuildRow {
    pub id: i64,
    pub build: BuildRecord,
}

impl PageQuery {
    /// The search as a `%text%` pattern for `LIKE … ESCAPE '\'` (SQLite, or `ILIKE` in
    /// PostgreSQL), with the wildcards of the text taken literally.
    pub fn like_pattern(&self) -> Option<String> {
        like_pattern(self.search.as_deref())
    }
}

/// `%text%` for `LIKE … ESCAPE '\'`, with the wildcards of `text` taken literally.
fn like_pattern(search: Option<&str>) -> Option<String> {
    let search = search.map(str::trim).filter(|s| !s.is_empty())?;
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

fn sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

const BUILD_COLUMNS: &str =
    "id, name, version, lock_hash, status, prefix, log_digest, error, started_at, finished_at";

fn row_to_build(row: &rusqlite::Row<'_>) -> rusqlite::Result<BuildRow> {
    Ok(BuildRow {
        id: row.get(0)?,
        build: BuildRecord {
            name: row.get(1)?,
            version: EnvironmentVersion::from_stored(row.get(2)?),
            lock_hash: row.get(3)?,
            status: row.get(4)?,
            prefix: row.get(5)?,
            log_digest: row.get(6)?,
            error: row.get(7)?,
            started_at: row.get(8)?,
            finished_at: row.get(9)?,
        },
    })
}

impl Workspace {
    fn query_page<T>(
        &self,
        what: &'static str,
        sql: &str,
        params: impl rusqlite::Params,
        limit: u64,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>, StoreError> {
        let rows = self.query_all(what, sql, params, map)?;
        Ok(Page::from_rows(rows, limit))
    }

    fn query_all<T>(
        &self,
        what: &'static str,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(sql)
            .map_err(StoreError::db(what))?;
        let rows = statement
            .query_map(params, map)
            .map_err(StoreError::db(what))?;
        rows.collect::<Result<_, _>>().map_err(StoreError::db(what))
    }

    /// The latest version of each named (not anonymous) environment, by name.
    pub fn environment_page(
        &self,
        query: &PageQuery,
    ) -> Result<Page<EnvironmentSummary>, StoreError> {
        let columns = crate::environments::COLUMNS;
        let sql = format!(
            "SELECT {columns} FROM environments e
             JOIN (SELECT MAX(id) AS latest_id FROM environments GROUP BY name) ON e.id = latest_id
             WHERE e.anonymous = 0 AND (?1 IS NULL OR e.name LIKE ?1 ESCAPE '\\')
             ORDER BY name LIMIT ?2 OFFSET ?3"
        );
        self.query_page(
            "listing environments",
            &sql,
            params![
                like_pattern(query.search.as_deref()),
                sql_int(query.limit) + 1,
                sql_int(query.offset)
            ],
            query.limit,
            crate::environments::row_to_summary,
        )
    }

    /// The versions of one environment, newest first; `search` matches the version.
    pub fn environment_version_page(
        &self,
        name: &str,
        query: &PageQuery,
    ) -> Result<Page<EnvironmentSummary>, StoreError> {
        let columns = crate::environments::COLUMNS;
        let sql = format!(
            "SELECT {columns} FROM environments
             WHERE name = ?1 AND (?2 IS NULL OR version LIKE ?2 ESCAPE '\\')
             ORDER BY id DESC LIMIT ?3 OFFSET ?4"
        );
        self.query_page(
            "listing versions",
            &sql,
            params![
                name,
                like_pattern(query.search.as_deref()),
                sql_int(query.limit) + 1,
                sql_int(query.offset)
            ],
            query.limit,
            crate::environments::row_to_summary,
        )
    }

    /// The newest `limit` builds of a version, newest first.
    pub fn builds_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<BuildRow>, StoreError> {
        self.query_all(
            "listing builds",
            &format!(
                "SELECT {BUILD_COLUMNS} FROM builds WHERE name = ?1 AND version = ?2 ORDER BY id DESC LIMIT ?3"
            ),
            params![name, version.as_str(), sql_int(limit)],
            row_to_build,
        )
    }

    /// One build by its id.
    pub fn build_by_id(&self, id: i64) -> Result<Option<BuildRow>, StoreError> {
        self.connection
            .query_row(
                &format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id = ?1"),
                params![id],
                row_to_build,
            )
            .optional()
            .map_err(StoreError::db("reading a build"))
    }

    /// The images built from a version.
    pub fn images_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        let columns = crate::images::COLUMNS;
        self.query_all(
            "listing images",
            &format!(
                "SELECT {columns} FROM images WHERE env_name = ?1 AND env_version = ?2 ORDER BY created_at DESC LIMIT 100"
            ),
            params![name, version.as_str()],
            crate::images::from_row,
        )
    }

    /// The newest `limit` runs that used a version.
    pub fn runs_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let columns = crate::runs::COLUMNS;
        self.query_all(
            "listing runs",
            &format!(
                "SELECT {columns} FROM runs WHERE env_name = ?1 AND env_version = ?2 ORDER BY queued_at DESC LIMIT ?3"
            ),
            params![name, version.as_str(), sql_int(limit)],
            crate::runs::row_to_run,
        )
    }

    /// The newest `limit` model versions trained in a version.
    pub fn models_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<ModelRecord>, StoreError> {
        let columns = crate::models::COLUMNS;
        self.query_all(
            "listing models",
            &format!(
                "SELECT {columns} FROM models WHERE env_name = ?1 AND env_version = ?2 ORDER BY created_at DESC LIMIT ?3"
            ),
            params![name, version.as_str(), sql_int(limit)],
            crate::models::row_to_model,
        )
    }

    /// The services that run in a version.
    pub fn services_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<ServiceRecord>, StoreError> {
        let columns = crate::services::COLUMNS;
        self.query_all(
            "listing services",
            &format!(
                "SELECT {columns} FROM services WHERE env_name = ?1 AND env_version = ?2 ORDER BY name LIMIT ?3"
            ),
            params![name, version.as_str(), sql_int(limit)],
            crate::services::row_to_service,
        )
    }

    /// Experiments by name, with their run counts.
    pub fn experiment_page(
        &self,
        query: &PageQuery,
    ) -> Result<Page<ExperimentSummary>, StoreError> {
        self.query_page(
            "listing experiments",
            "SELECT experiment, COUNT(*), MAX(queued_at) FROM runs
             WHERE ?1 IS NULL OR experiment LIKE ?1 ESCAPE '\\'
             GROUP BY experiment ORDER BY experiment LIMIT ?2 OFFSET ?3",
            params![
                like_pattern(query.search.as_deref()),
                sql_int(query.limit) + 1,
                sql_int(query.offset)
            ],
            query.limit,
            |row| {
                Ok(ExperimentSummary {
                    name: row.get(0)?,
                    runs: row.get::<_, i64>(1)?.try_into().unwrap_or(0),
                    last_queued_at: row.get(2)?,
                })
            },
        )
    }

    /// The runs of an experiment, filtered and sorted; `search` matches the id, the script
    /// and tag keys and values.
    pub fn run_page(
        &self,
        filter: &RunFilter,
        query: &PageQuery,
    ) -> Result<Page<RunRecord>, StoreError> {
        let columns = crate::runs::COLUMNS;
        let direction = if filter.descending { "DESC" } else { "ASC" };
        let (order, metric) = match &filter.sort {
            RunSort::Queued => (format!("queued_at {direction}, id {direction}"), None),
            RunSort::Status => (format!("status {direction}, queued_at DESC"), None),
            RunSort::Duration => (
                format!(
                    "(finished_at - COALESCE(started_at, queued_at)) {direction} NULLS LAST, queued_at DESC"
                ),
                None,
            ),
            RunSort::Environment => (
                format!("env_name {direction}, env_version {direction}, queued_at DESC"),
                None,
            ),
            RunSort::Metric(name) => (
                format!(
                    "(SELECT CAST(m.value AS REAL) FROM run_metrics m WHERE runs.finished_at IS NOT NULL AND m.run_id = runs.id AND m.name = ?5 AND m.kind = 'scalar' ORDER BY m.seq DESC LIMIT 1) {direction} NULLS LAST, queued_at DESC"
                ),
                Some(name.as_str()),
            ),
        };
        let sql = format!(
            "SELECT {columns} FROM runs
             WHERE experiment = ?1 AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR id LIKE ?3 ESCAPE '\\' OR script LIKE ?3 ESCAPE '\\'
                    OR EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = runs.id
                               AND (t.key LIKE ?3 ESCAPE '\\' OR t.value LIKE ?3 ESCAPE '\\')))
             ORDER BY {order} LIMIT ?4 OFFSET ?6"
        );
        self.query_page(
            "listing runs",
            &sql,
            params![
                filter.experiment,
                filter.status,
                like_pattern(query.search.as_deref()),
                sql_int(query.limit) + 1,
                metric,
                sql_int(query.offset)
            ],
            query.limit,
            crate::runs::row_to_run,
        )
    }

    /// The last logged value of each scalar metric of a run, by name.
    pub fn last_scalar_metrics(&self, run_id: &str) -> Result<Vec<(String, f64)>, StoreError> {
        // SQLite takes the bare `value` from the row holding `MAX(seq)`.
        self.query_all(
            "reading metrics",
            "SELECT name, CAST(value AS REAL), MAX(seq) FROM run_metrics
             WHERE run_id = ?1 AND kind = 'scalar' GROUP BY name ORDER BY name",
            params![run_id],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
                ))
            },
        )
    }

    /// The latest version of each model, by name; `search` matches the name.
    pub fn model_page(&self, query: &PageQuery) -> Result<Page<ModelRecord>, StoreError> {
        let columns = crate::models::COLUMNS;
        let sql = format!(
            "SELECT {columns} FROM models m
             JOIN (SELECT name AS n, MAX(version) AS v FROM models GROUP BY name)
               ON m.name = n AND m.version = v
             WHERE ?1 IS NULL OR m.name LIKE ?1 ESCAPE '\\'
             ORDER BY name LIMIT ?2 OFFSET ?3"
        );
        self.query_page(
            "listing models",
            &sql,
            params![
                like_pattern(query.search.as_deref()),
                sql_int(query.limit) + 1,
                sql_int(query.offset)
            ],
            query.limit,
            crate::models::row_to_model,
        )
    }

    /// The versions of one model, newest first.
    pub fn model_version_page(
        &self,
        name: &str,
        query: &PageQuery,
    ) -> Result<Page<ModelRecord>, StoreError> {
        let columns = crate::models::COLUMNS;
        self.query_page(
            "listing model versions",
            &format!(
                "SELECT {columns} FROM models WHERE name = ?1 ORDER BY version DESC LIMIT ?2 OFFSET ?3"
            ),
            params![name, sql_int(query.limit) + 1, sql_int(query.offset)],
            query.limit,
            crate::models::row_to_model,
        )
    }

    /// The model versions registered from a run.
    pub fn models_of_run(&self, run_id: &str) -> Result<Vec<ModelRecord>, StoreError> {
        let columns = crate::models::COLUMNS;
        self.query_all(
            "listing models",
            &format!(
                "SELECT {columns} FROM models WHERE run_id = ?1 ORDER BY name, version LIMIT 100"
            ),
            params![run_id],
            crate::models::row_to_model,
        )
    }

    /// Services by name; `search` matches the name.
    pub fn service_page(&self, query: &PageQuery) -> Result<Page<ServiceRecord>, StoreError> {
        let columns = crate::services::COLUMNS;
        self.query_page(
            "listing services",
            &format!(
                "SELECT {columns} FROM services WHERE ?1 IS NULL OR name LIKE ?1 ESCAPE '\\'
                 ORDER BY name LIMIT ?2 OFFSET ?3"
            ),
            params![
                like_pattern(query.search.as_deref()),
                sql_int(query.limit) + 1,
                sql_int(query.offset)
            ],
            query.limit,
            crate::services::row_to_service,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_takes_wildcards_literally() {
        assert_eq!(like_pattern(None), None);
        assert_eq!(like_pattern(Some("  ")), None);
        assert_eq!(
            like_pattern(Some("a_b%c\\")).as_deref(),
            Some("%a\\_b\\%c\\\\%")
        );
    }

    #[test]
    fn pages_know_whether_more_rows_follow() {
        let page = Page::from_rows(vec![1, 2, 3], 2);
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.has_more);
        let page = Page::from_rows(vec![1, 2], 2);
        assert!(!page.has_more);
    }

    #[test]
    fn environment_pages_window_and_search() {
        let dir = tempfile::tempdir().unwrap();
        let mut workspace = Workspace::init(dir.path()).unwrap();
        for name in ["alpha", "beta", "gamma_1", "gammaX1"] {
            let environment = strata_spec::Environment::new(name);
            workspace
                .register_environment(environment, crate::RegisterOptions::default())
                .unwrap();
        }
        let all = |search: Option<&str>, offset, limit| {
            workspace
                .environment_page(&PageQuery {
                    search: search.map(str::to_string),
                    offset,
                    limit,
                })
                .unwrap()
        };
        let first = all(Some("gamma_"), 0, 10);
        let names: Vec<_> = first.items.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["gamma_1"]);
        let page = all(None, 1, 2);
        assert_eq!(page.items.len(), 2);
        assert!(page.has_more);
    }
}
