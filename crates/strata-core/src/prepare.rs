//! Preparing a version to run in: its lock (made once, the first stored wins) and its built
//! prefix (reused by content hash), every failure recorded with its log.

use std::path::{Path, PathBuf};

use strata_build::{
    BuildContext, BuildError, BuildLog, Cache, Prefix, Reporter, WheelSource, lookup, materialize,
    resolve,
};
use strata_spec::EnvironmentVersion;
use strata_store::{BuildRecord, EnvironmentRecord, LockRecord, Workspace};

use crate::error::{BuildFailed, PrepareError};

/// Private wheels come from the workspace's blob store, verified.
pub struct WorkspaceWheels<'a>(pub &'a Workspace);

impl WheelSource for WorkspaceWheels<'_> {
    fn wheel_file(&self, uri: &str) -> Result<PathBuf, String> {
        self.0.resolve_wheel(uri).map_err(|error| error.to_string())
    }
}

/// A version with its lock and its built prefix.
#[derive(Debug, Clone)]
pub struct Built {
    pub record: EnvironmentRecord,
    pub lock: LockRecord,
    pub prefix: Prefix,
    /// The build this call made and recorded; `None` when a cached prefix of the lock was
    /// reused without building.
    pub build: Option<BuildRecord>,
}

/// The cache is shared by every workspace of a user; `cache gc` keeps what any of them uses,
/// so each workspace that builds into it is listed there.
pub const WORKSPACES_FILE: &str = "workspaces-v1.txt";

/// Locks (when needed) and builds (when needed) a version of `name` (the latest without
/// `version`). A cached prefix of its lock is reused without any subprocess.
pub fn ensure_built(
    workspace: &mut Workspace,
    name: &str,
    version: Option<&EnvironmentVersion>,
    reporter: &dyn Reporter,
) -> Result<Built, PrepareError> {
    let record = workspace.get_environment(name, version)?;
    build_in(workspace, record, &Cache::from_env(), reporter, None)
}

/// A log begun before the build, with when it began: the resolution that made the lock a
/// build then uses, so the build's log shows both, as when the build locks the version.
pub(crate) struct EarlierLog {
    pub(crate) log: BuildLog,
    pub(crate) started_at: i64,
}

/// [`ensure_built`] of a version's record, into `cache`, its log continuing `earlier`.
pub(crate) fn build_in(
    workspace: &mut Workspace,
    record: EnvironmentRecord,
    cache: &Cache,
    reporter: &dyn Reporter,
    earlier: Option<EarlierLog>,
) -> Result<Built, PrepareError> {
    let stored = workspace.get_lock(&record.name, &record.version)?;
    if let Some(lock) = &stored
        && let Some(prefix) = cached(lock, cache)
    {
        return Ok(Built {
            record,
            lock: lock.clone(),
            prefix,
            build: None,
        });
    }
    let (mut log, started_at) = match earlier {
        Some(earlier) => (earlier.log, earlier.started_at),
        None => (BuildLog::default(), strata_store::now_millis()),
    };
    log.line(&format!(
        "building {}:{} (spec hash {})",
        record.name, record.version, record.spec_hash
    ));
    let lock = match lock_version(workspace, &record, stored, cache, reporter, &mut log) {
        Ok(lock) => lock,
        Err(error) => {
            return Err(record_failure(
                workspace, &record, None, started_at, &log, error,
            ));
        }
    };
    let wheels = WorkspaceWheels(workspace);
    let context = BuildContext {
        cache,
        wheels: &wheels,
        reporter,
    };
    match materialize(&lock.lock, &context, &mut log) {
        Ok(prefix) => {
            remember_workspace(cache, workspace.root());
            let build = workspace.record_build(
                BuildRecord {
                    name: record.name.clone(),
                    version: record.version.clone(),
                    lock_hash: Some(lock.lock_hash.clone()),
                    status: "succeeded".to_string(),
                    prefix: Some(prefix.path.display().to_string()),
                    log_digest: None,
                    error: None,
                    started_at,
                    finished_at: strata_store::now_millis(),
                },
                log.text(),
            )?;
            Ok(Built {
                record,
                lock,
                prefix,
                build: Some(build),
            })
        }
        Err(error) => Err(record_failure(
            workspace,
            &record,
            Some(&lock.lock_hash),
            started_at,
            &log,
            error,
        )),
    }
}

/// Locks a version when it has no lock yet (nothing is built); a failure is recorded like a
/// failed build.
pub fn ensure_locked(
    workspace: &mut Workspace,
    record: &EnvironmentRecord,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<LockRecord, PrepareError> {
    let stored = workspace.get_lock(&record.name, &record.version)?;
    if let Some(lock) = stored {
        return Ok(lock);
    }
    let started_at = strata_store::now_millis();
    let mut log = BuildLog::default();
    match lock_version(workspace, record, None, cache, reporter, &mut log) {
        Ok(lock) => Ok(lock),
        Err(error) => Err(record_failure(
            workspace, record, None, started_at, &log, error,
        )),
    }
}

fn remember_workspace(cache: &Cache, root: &Path) {
    let file = cache.root().join(WORKSPACES_FILE);
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let line = root.display().to_string();
    let known = fs_err::read_to_string(&file).unwrap_or_default();
    if known.lines().any(|l| l == line) {
        return;
    }
    // Appends of one short line are atomic enough; a lost line only makes gc keep less.
    if let Ok(mut out) = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
    {
        use std::io::Write as _;
        let _ = writeln!(out, "{line}");
    }
}

/// The cache-hit path: no subprocess, one marker file.
fn cached(lock: &LockRecord, cache: &Cache) -> Option<Prefix> {
    if lock.lock.user_managed.is_some() {
        return None;
    }
    lookup(&lock.lock_hash, cache)
}

fn lock_version(
    workspace: &mut Workspace,
    record: &EnvironmentRecord,
    stored: Option<LockRecord>,
    cache: &Cache,
    reporter: &dyn Reporter,
    log: &mut BuildLog,
) -> Result<LockRecord, BuildError> {
    if let Some(lock) = stored {
        log.line(&format!("using the stored lock {}", lock.lock_hash));
        return Ok(lock);
    }
    let wheels = WorkspaceWheels(workspace);
    let context = BuildContext {
        cache,
        wheels: &wheels,
        reporter,
    };
    let lock = resolve(&record.environment, &context, log)?;
    // The first lock stored wins, so concurrent builders agree on one.
    workspace
        .set_lock(&record.name, &record.version, &lock)
        .map_err(|error| BuildError::InvalidLock {
            reason: error.to_string(),
        })
}

/// Records a failed lock (`lock_hash` is `None`) or build with its log, and says where the log
/// is.
pub fn record_failure(
    workspace: &mut Workspace,
    record: &EnvironmentRecord,
    lock_hash: Option<&String>,
    started_at: i64,
    log: &BuildLog,
    error: BuildError,
) -> PrepareError {
    let mut text = log.text().to_string();
    text.push_str(&format!("error: {error}\n"));
    let stored = workspace.record_build(
        BuildRecord {
            name: record.name.clone(),
            version: record.version.clone(),
            lock_hash: lock_hash.cloned(),
            status: "failed".to_string(),
            prefix: None,
            log_digest: None,
            error: Some(error.to_string()),
            started_at,
            finished_at: strata_store::now_millis(),
        },
        &text,
    );
    let stored = stored.ok();
    let log_path = stored
        .as_ref()
        .and_then(|r| r.log_digest.as_ref())
        .map(|digest| workspace.blobs().path(digest));
    PrepareError::Failed(Box::new(BuildFailed {
        reference: format!("{}:{}", record.name, record.version),
        locking: lock_hash.is_none(),
        log_path,
        record: stored,
        unshared: None,
        source: error,
    }))
}

/// The environment variables that activate a prefix, plus the definition's own.
pub fn activation_env(built: &Built) -> std::collections::BTreeMap<String, String> {
    let prefix = &built.prefix.path;
    let bin = built
        .prefix
        .python
        .parent()
        .map_or_else(|| prefix.join("bin"), Path::to_path_buf);
    let mut env = std::collections::BTreeMap::new();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&path));
    if let Ok(joined) = std::env::join_paths(paths) {
        env.insert("PATH".to_string(), joined.to_string_lossy().into_owned());
    }
    if prefix.join("pyvenv.cfg").is_file() {
        env.insert("VIRTUAL_ENV".to_string(), prefix.display().to_string());
    }
    if prefix.join("conda-meta").is_dir() {
        env.insert("CONDA_PREFIX".to_string(), prefix.display().to_string());
    }
    for (key, value) in built.record.environment.variables() {
        env.insert(key.clone(), value.clone());
    }
    env.insert(
        "STRATA_ENVIRONMENT".to_string(),
        format!("{}:{}", built.record.name, built.record.version),
    );
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_recorded_with_its_log_and_says_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut workspace = Workspace::init(dir.path()).unwrap();
        let record = workspace
            .register_environment(
                strata_spec::Environment::new("broken"),
                strata_store::RegisterOptions::default(),
            )
            .unwrap()
            .record;
        let mut log = BuildLog::default();
        log.line("resolving");
        let error = BuildError::InvalidLock {
            reason: "no solution".to_string(),
        };
        let PrepareError::Failed(failed) =
            record_failure(&mut workspace, &record, None, 1, &log, error)
        else {
            panic!("a failed lock is a build failure");
        };
        assert_eq!(failed.reference, "broken:1");
        assert!(failed.locking, "no lock hash: the lock failed");
        let recorded = failed
            .record
            .as_ref()
            .expect("the failure is carried with the error");
        assert_eq!(recorded.status, "failed");
        assert!(failed.unshared.is_none(), "no server is involved");
        let log_path = failed.log_path.expect("the log was stored");
        let text = fs_err::read_to_string(&log_path).unwrap();
        assert!(
            text.contains("resolving") && text.contains("error:"),
            "{text}"
        );
        let last = workspace
            .last_build("broken", &record.version)
            .unwrap()
            .expect("the failure is a build record");
        assert_eq!(last.status, "failed");
        assert!(last.error.unwrap().contains("no solution"));
    }
}
