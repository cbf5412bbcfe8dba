//! The index of locked packages (written with each lock) and the reads over locks that
//! `env search` and `env audit --all` make, with the embedded store's answers.

use sqlx::{PgConnection, Row as _};
use strata_spec::{EnvironmentVersion, Lock};
use strata_store::store::{Cursor, CursorPage};
use strata_store::{
    DELETED, LatestLock, LockRecord, PackageUse, StoreError, locked_packages, normalize_package,
};

use crate::environments::{SUMMARY_COLUMNS, row_to_summary};
use crate::error::{corrupt, db};
use crate::workspace::{PgWorkspace, after, fetch};

impl PgWorkspace {
    /// Adds the packages of a lock just stored to the index, in its transaction.
    pub(crate) async fn index_lock(
        &self,
        connection: &mut PgConnection,
        name: &str,
        version: &EnvironmentVersion,
        lock: &Lock,
    ) -> Result<(), StoreError> {
        let rows = locked_packages(lock);
        if rows.is_empty() {
            return Ok(());
        }
        let mut ecosystems = Vec::with_capacity(rows.len());
        let mut packages = Vec::with_capacity(rows.len());
        let mut versions = Vec::with_capacity(rows.len());
        let mut builds = Vec::with_capacity(rows.len());
        for (ecosystem, package, package_version, build) in rows {
            ecosystems.push(ecosystem.to_string());
            packages.push(package);
            versions.push(package_version);
            builds.push(build);
        }
        // One statement for the whole lock, however many packages it pins.
        sqlx::query(
            "INSERT INTO locked_packages (workspace_id, ecosystem, package, env_name, env_version, version, build)
             SELECT $1, e, p, $2, $3, v, b
             FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) AS t(e, p, v, b)
             ON CONFLICT DO NOTHING",
        )
        .bind(self.id)
        .bind(name)
        .bind(version.as_str())
        .bind(&ecosystems)
        .bind(&packages)
        .bind(&versions)
        .bind(&builds)
        .execute(connection)
        .await
        .map_err(db("indexing a lock"))?;
        Ok(())
    }

    pub(crate) async fn latest_locks_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<LatestLock>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let columns = SUMMARY_COLUMNS
            .split(", ")
            .map(|column| format!("e.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, l.lock_hash, l.lock::text AS lock, l.created_at AS locked_at
             FROM environments e
             LEFT JOIN locks l
               ON l.workspace_id = e.workspace_id AND l.name = e.name AND l.version = e.version
             WHERE e.workspace_id = $1 AND NOT e.anonymous
               AND e.id IN (SELECT MAX(id) FROM environments WHERE workspace_id = $1 GROUP BY name)
               AND ($2::text IS NULL OR e.name > $2)
             ORDER BY e.name LIMIT $3"
        );
        let what = "reading the latest locks";
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(after.as_ref().map(|c| c.key.clone()))
            .bind(fetch(limit))
            .fetch_all(self.pool())
            .await
            .map_err(db(what))?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let environment = row_to_summary(row).map_err(db(what))?;
            let hash: Option<String> = row.try_get("lock_hash").map_err(db(what))?;
            let lock = match hash {
                Some(lock_hash) => {
                    let text: String = row.try_get("lock").map_err(db(what))?;
                    let locked_at: i64 = row.try_get("locked_at").map_err(db(what))?;
                    let lock = serde_json::from_str(&text).map_err(corrupt(format!(
                        "lock of {}:{}",
                        environment.name, environment.version
                    )))?;
                    Some(LockRecord {
                        lock_hash,
                        lock,
                        locked_at,
                    })
                }
                None => None,
            };
            let cursor = Cursor::new(environment.name.clone(), 0);
            items.push((LatestLock { environment, lock }, cursor));
        }
        Ok(Cursor::page(items, limit))
    }

    pub(crate) async fn package_uses_page(
        &self,
        ecosystem: &str,
        package: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<PackageUse>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let position = after.as_ref().map(Cursor::pair).transpose()?;
        let what = "searching locked packages";
        let package = normalize_package(ecosystem, package);
        let rows = sqlx::query(
            "SELECT p.env_name, p.env_version, p.version, p.build,
                (SELECT array_agg(r.id ORDER BY r.queued_at, r.id) FROM runs r
                  WHERE r.workspace_id = p.workspace_id AND r.env_name = p.env_name
                    AND r.env_version = p.env_version) AS runs,
                (SELECT array_agg(m.name || ':' || m.version ORDER BY m.name, m.version) FROM models m
                  WHERE m.workspace_id = p.workspace_id AND m.env_name = p.env_name
                    AND m.env_version = p.env_version) AS models,
                (SELECT array_agg(s.name ORDER BY s.name) FROM services s
                  WHERE s.workspace_id = p.workspace_id AND s.env_name = p.env_name
                    AND s.env_version = p.env_version AND s.state <> $4) AS services
             FROM locked_packages p
             WHERE p.workspace_id = $1 AND p.ecosystem = $2 AND p.package = $3
               AND ($5::text IS NULL OR (p.env_name, p.env_version) > ($5, $6))
             ORDER BY p.env_name, p.env_version LIMIT $7",
        )
        .bind(self.id)
        .bind(ecosystem)
        .bind(&package)
        .bind(DELETED)
        .bind(position.map(|(name, _)| name))
        .bind(position.map_or("", |(_, version)| version))
        .bind(fetch(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db(what))?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let usage = PackageUse {
                env_name: row.try_get("env_name").map_err(db(what))?,
                env_version: EnvironmentVersion::from_stored(
                    row.try_get("env_version").map_err(db(what))?,
                ),
                version: row.try_get("version").map_err(db(what))?,
                build: row.try_get("build").map_err(db(what))?,
                runs: list(row, "runs").map_err(db(what))?,
                models: list(row, "models").map_err(db(what))?,
                services: list(row, "services").map_err(db(what))?,
            };
            let cursor = Cursor::of_pair(&usage.env_name, usage.env_version.as_str());
            items.push((usage, cursor));
        }
        Ok(Cursor::page(items, limit))
    }
}

fn list(row: &sqlx::postgres::PgRow, column: &str) -> Result<Vec<String>, sqlx::Error> {
    Ok(row
        .try_get::<Option<Vec<String>>, _>(column)?
        .unwrap_or_default())
}
