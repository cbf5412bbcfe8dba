//! The index of locked packages: one row per package of every lock, written with the lock, so
//! "which versions contain package X, and what used them" is one query.
//!
//! Names are normalised per ecosystem: PEP 503 for PyPI (`Pillow`, `pillow_simd` ->
//! `pillow`, `pillow-simd`), lower case for conda. A user-managed lock indexes its
//! `pip freeze` lines of the form `NAME==VERSION` as PyPI packages.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use strata_spec::{EnvironmentVersion, Lock, normalize_name};

use crate::error::StoreError;
use crate::workspace::Workspace;

/// The ecosystem of PyPI packages in the index.
pub const PYPI: &str = "pypi";
/// The ecosystem of conda packages in the index.
pub const CONDA: &str = "conda";

/// One environment version whose lock has the package, with what used that version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageUse {
    pub env_name: String,
    pub env_version: EnvironmentVersion,
    /// The locked version of the package.
    pub version: String,
    /// The conda build string; `None` for PyPI packages.
    pub build: Option<String>,
    /// Run ids, oldest first.
    pub runs: Vec<String>,
    /// `NAME:VERSION` of the models registered from a run in this environment version.
    pub models: Vec<String>,
    /// Names of the services (not deleted) deployed with this environment version.
    pub services: Vec<String>,
}

/// `name` as the index keeps names of `ecosystem`: PEP 503 for [`PYPI`], lower case for
/// others.
pub fn normalize_package(ecosystem: &str, name: &str) -> String {
    if ecosystem == PYPI {
        normalize_name(name)
    } else {
        name.trim().to_ascii_lowercase()
    }
}

/// The rows a lock contributes: `(ecosystem, normalised name, version, build)`.
pub fn locked_packages(lock: &Lock) -> Vec<(&'static str, String, String, Option<String>)> {
    let mut rows: Vec<(&'static str, String, String, Option<String>)> = Vec::new();
    for package in &lock.conda {
        rows.push((
            CONDA,
            package.name.to_ascii_lowercase(),
            package.version.clone(),
            Some(package.build.clone()),
        ));
    }
    for package in &lock.pypi {
        rows.push((
            PYPI,
            normalize_name(&package.name),
            package.version.clone(),
            None,
        ));
    }
    if let Some(user_managed) = &lock.user_managed {
        for line in &user_managed.freeze {
            if let Some((name, version)) = line.split_once("==") {
                rows.push((
                    PYPI,
                    normalize_name(name.trim()),
                    version.trim().to_string(),
                    None,
                ));
            }
        }
    }
    rows
}

/// Adds the packages of one lock to the index (a lock is written once; a second call for the
/// same version changes nothing).
pub(crate) fn index_lock(
    connection: &Connection,
    name: &str,
    version: &EnvironmentVersion,
    lock: &Lock,
) -> Result<(), StoreError> {
    let mut statement = connection
        .prepare_cached(
            "INSERT OR IGNORE INTO locked_packages (ecosystem, package, env_name, env_version, version, build)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(StoreError::db("indexing a lock"))?;
    for (ecosystem, package, package_version, build) in locked_packages(lock) {
        statement
            .execute(params![
                ecosystem,
                package,
                name,
                version.as_str(),
                package_version,
                build
            ])
            .map_err(StoreError::db("indexing a lock"))?;
    }
    Ok(())
}

/// Indexes every lock written before the index existed (run inside the migration).
pub(crate) fn backfill(connection: &Connection) -> Result<(), StoreError> {
    let mut statement = connection
        .prepare("SELECT name, version, lock FROM locks")
        .map_err(StoreError::db("reading locks to index"))?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .map_err(StoreError::db("reading locks to index"))?;
    for row in rows {
        let (name, version, text) = row.map_err(StoreError::db("reading locks to index"))?;
        let lock: Lock =
            serde_json::from_str(&text).map_err(|source| StoreError::CorruptRecord {
                what: format!("lock of {name}:{version}"),
                source,
            })?;
        index_lock(
            connection,
            &name,
            &EnvironmentVersion::from_stored(version),
            &lock,
        )?;
    }
    Ok(())
}

/// Where a page of [`Workspace::package_uses`] starts: after this environment version.
pub type PackagePosition<'a> = Option<(&'a str, &'a str)>;

/// A page of the index's rows for one package, and the runs, models and services of each of
/// them, as one statement: `kind` 0 is the indexed row itself, 1 a run, 2 a model, 3 a
/// service, each in the order its list keeps (`k1`, `k2`). Joining the page, rather than a
/// correlated subquery per row, keeps a search over thousands of versions from setting up
/// three aggregates and their sorters per version.
fn uses_statement(after: bool) -> String {
    let after = if after {
        "AND (env_name, env_version) > (?4, ?5)"
    } else {
        "AND ?4 IS NULL AND ?5 IS NULL"
    };
    format!(
        "WITH page AS MATERIALIZED (
             SELECT env_name, env_version, version, build FROM locked_packages
              WHERE ecosystem = ?1 AND package = ?2 {after}
              ORDER BY env_name, env_version LIMIT ?6)
         SELECT p.env_name, p.env_version, 0 AS kind, p.version AS value, p.build AS k1, NULL AS k2
           FROM page p
         UNION ALL
         SELECT p.env_name, p.env_version, 1, r.id, r.queued_at, r.id
           FROM page p JOIN runs r ON r.env_name = p.env_name AND r.env_version = p.env_version
         UNION ALL
         SELECT p.env_name, p.env_version, 2, m.name || ':' || m.version, m.name, m.version
           FROM page p JOIN models m ON m.env_name = p.env_name AND m.env_version = p.env_version
         UNION ALL
         SELECT p.env_name, p.env_version, 3, s.name, s.name, NULL
           FROM page p JOIN services s ON s.env_name = p.env_name AND s.env_version = p.env_version
          WHERE s.state != ?3
         ORDER BY 1, 2, 3, 5, 6"
    )
}

impl Workspace {
    /// Environment versions whose lock has `package` of `ecosystem` ([`PYPI`] or [`CONDA`];
    /// the name is normalised as [`normalize_package`] does), sorted by environment name and
    /// version (as text), after `after`, at most `limit`, with the runs, models and services
    /// that used each version: one query.
    pub fn package_uses(
        &self,
        ecosystem: &str,
        package: &str,
        after: PackagePosition<'_>,
        limit: usize,
    ) -> Result<Vec<PackageUse>, StoreError> {
        let error = |source| StoreError::db("searching locked packages")(source);
        let mut statement = self
            .connection
            .prepare_cached(&uses_statement(after.is_some()))
            .map_err(error)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let package = normalize_package(ecosystem, package);
        let mut rows = statement
            .query(params![
                ecosystem,
                package,
                crate::DELETED,
                after.map(|(name, _)| name),
                after.map(|(_, version)| version),
                limit
            ])
            .map_err(error)?;
        let mut uses: Vec<PackageUse> = Vec::new();
        while let Some(row) = rows.next().map_err(error)? {
            let kind: i64 = row.get(2).map_err(error)?;
            let value: String = row.get(3).map_err(error)?;
            if kind == 0 {
                uses.push(PackageUse {
                    env_name: row.get(0).map_err(error)?,
                    env_version: EnvironmentVersion::from_stored(row.get(1).map_err(error)?),
                    version: value,
                    build: row.get(4).map_err(error)?,
                    runs: Vec::new(),
                    models: Vec::new(),
                    services: Vec::new(),
                });
                continue;
            }
            // Rows are ordered by version, then kind: the version's own row came first.
            let Some(used) = uses.last_mut() else {
                continue;
            };
            match kind {
                1 => used.runs.push(value),
                2 => used.models.push(value),
                _ => used.services.push(value),
            }
        }
        Ok(uses)
    }
}

#[cfg(test)]
mod tests {
    use strata_spec::{LOCK_FORMAT_VERSION, PypiLockedPackage, PypiSource, UserManagedLock};

    use super::*;

    fn sample_lock() -> Lock {
        Lock {
            version: LOCK_FORMAT_VERSION,
            platform: "linux-64".to_string(),
            python: None,
            conda: Vec::new(),
            pypi: vec![PypiLockedPackage {
                name: "Pillow_SIMD".to_string(),
                version: "9.0.0".to_string(),
                source: PypiSource::Index {
                    url: "https://pypi.org/simple".to_string(),
                },
                hashes: Vec::new(),
            }],
            pip_options: Vec::new(),
            user_managed: Some(UserManagedLock {
                interpreter: "/usr/bin/python3".to_string(),
                python_version: "3.11.2".to_string(),
                freeze: vec![
                    "Jinja2==3.1.2".to_string(),
                    "-e git+https://example.org/x.git#egg=x".to_string(),
                ],
            }),
            base_image: None,
        }
    }

    #[test]
    fn names_are_normalised_per_ecosystem() {
        let rows = locked_packages(&sample_lock());
        assert_eq!(
            rows,
            [
                (PYPI, "pillow-simd".to_string(), "9.0.0".to_string(), None),
                (PYPI, "jinja2".to_string(), "3.1.2".to_string(), None)
            ]
        );
    }

    #[test]
    fn the_migration_indexes_locks_written_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut workspace = Workspace::init(dir.path()).unwrap();
        workspace
            .set_lock("old", &EnvironmentVersion::number(1), &sample_lock())
            .unwrap();
        let expected = [PackageUse {
            env_name: "old".to_string(),
            env_version: EnvironmentVersion::number(1),
            version: "3.1.2".to_string(),
            build: None,
            runs: Vec::new(),
            models: Vec::new(),
            services: Vec::new(),
        }];
        assert_eq!(
            workspace.package_uses(PYPI, "jinja2", None, 100).unwrap(),
            expected
        );
        // Back to schema 7, as a workspace written before the index existed.
        workspace
            .connection
            .execute_batch(
                "DROP TABLE locked_packages; DROP INDEX runs_by_env; DROP INDEX models_by_env;
                 DROP INDEX services_by_env; PRAGMA user_version = 7;",
            )
            .unwrap();
        drop(workspace);
        let workspace = Workspace::open(&dir.path().join(crate::WORKSPACE_DIR)).unwrap();
        assert_eq!(
            workspace.package_uses(PYPI, "jinja2", None, 100).unwrap(),
            expected
        );
        assert_eq!(
            workspace
                .package_uses(PYPI, "pillow-simd", None, 100)
                .unwrap()
                .len(),
            1
        );
        assert!(
            workspace
                .package_uses(CONDA, "jinja2", None, 100)
                .unwrap()
                .is_empty()
        );
    }
}
