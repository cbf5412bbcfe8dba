//! Locking, building and entering environments: the build path runs and services use too.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;
use serde_json::json;
use strata_build::{
    BuildContext, BuildError, BuildLog, Cache, Prefix, Reporter, WheelSource, lookup, materialize,
    resolve,
};
use strata_spec::lock_diff;
use strata_store::{BuildRecord, EnvironmentRecord, LockRecord, Workspace, format_time};

use crate::commands::{Context, parse_ref};
use crate::errors::{BuildFailed, UsageError};
use crate::printer;
use crate::progress::TerminalReporter;

/// Private wheels come from the workspace's blob store, verified.
pub(crate) struct WorkspaceWheels<'a>(pub(crate) &'a Workspace);

impl WheelSource for WorkspaceWheels<'_> {
    fn wheel_file(&self, uri: &str) -> Result<PathBuf, String> {
        self.0.resolve_wheel(uri).map_err(|error| error.to_string())
    }
}

/// A version with its lock and its built prefix.
pub(crate) struct Built {
    pub(crate) record: EnvironmentRecord,
    pub(crate) lock: LockRecord,
    pub(crate) prefix: Prefix,
}

/// Locks (when needed) and builds (when needed) a version; every failure is recorded with its
/// log and named with the command that shows it.
pub(crate) fn ensure_built(
    workspace: &mut Workspace,
    name: &str,
    version: Option<&strata_spec::EnvironmentVersion>,
    reporter: &dyn Reporter,
) -> Result<Built> {
    let record = workspace.get_environment(name, version)?;
    let cache = Cache::from_env();
    let stored = workspace.get_lock(&record.name, &record.version)?;
    if let Some(lock) = &stored
        && let Some(prefix) = cached(lock, &cache)
    {
        return Ok(Built {
            record,
            lock: lock.clone(),
            prefix,
        });
    }
    let started_at = strata_store::now_millis();
    let mut log = BuildLog::default();
    log.line(&format!(
        "building {}:{} (spec hash {})",
        record.name, record.version, record.spec_hash
    ));
    let lock = match lock_version(workspace, &record, stored, &cache, reporter, &mut log) {
        Ok(lock) => lock,
        Err(error) => return Err(failed(workspace, &record, None, started_at, &log, error)),
    };
    let wheels = WorkspaceWheels(workspace);
    let context = BuildContext {
        cache: &cache,
        wheels: &wheels,
        reporter,
    };
    match materialize(&lock.lock, &context, &mut log) {
        Ok(prefix) => {
            remember_workspace(&cache, workspace.root());
            workspace.record_build(
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
            })
        }
        Err(error) => Err(failed(
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
pub(crate) fn ensure_locked(
    workspace: &mut Workspace,
    record: &EnvironmentRecord,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<LockRecord> {
    let stored = workspace.get_lock(&record.name, &record.version)?;
    if let Some(lock) = stored {
        return Ok(lock);
    }
    let started_at = strata_store::now_millis();
    let mut log = BuildLog::default();
    match lock_version(workspace, record, None, cache, reporter, &mut log) {
        Ok(lock) => Ok(lock),
        Err(error) => Err(failed(workspace, record, None, started_at, &log, error)),
    }
}

/// The cache is shared by every workspace of a user; `cache gc` keeps what any of them uses,
/// so each workspace that builds into it is listed there.
pub(crate) const WORKSPACES_FILE: &str = "workspaces-v1.txt";

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

/// Records a failed lock or build with its log, and names the command that shows it.
pub(crate) fn failed(
    workspace: &mut Workspace,
    record: &EnvironmentRecord,
    lock_hash: Option<&String>,
    started_at: i64,
    log: &BuildLog,
    error: BuildError,
) -> anyhow::Error {
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
    let log_path = stored
        .ok()
        .and_then(|r| r.log_digest)
        .map(|digest| workspace.blobs().path(&digest));
    BuildFailed {
        reference: format!("{}:{}", record.name, record.version),
        locking: lock_hash.is_none(),
        log_path,
        source: error,
    }
    .into()
}

/// `strata env lock NAME[:V] [--refresh]` and `strata env update NAME --refresh`.
pub(crate) fn lock(context: &Context, environment: &str, refresh: bool, json: bool) -> Result<()> {
    let reference = parse_ref(environment)?;
    let mut workspace = context.open_workspace()?;
    let record = workspace.get_environment(&reference.name, reference.version.as_ref())?;
    let existing = workspace.get_lock(&record.name, &record.version)?;
    let reporter = TerminalReporter::new();
    let cache = Cache::from_env();
    if !refresh && let Some(lock) = existing {
        drop(reporter);
        return print_lock(&record, &lock, json, "is locked");
    }
    let mut log = BuildLog::default();
    log.line(&format!("locking {}:{}", record.name, record.version));
    let started_at = strata_store::now_millis();
    let wheels = WorkspaceWheels(&workspace);
    let build_context = BuildContext {
        cache: &cache,
        wheels: &wheels,
        reporter: &reporter,
    };
    let resolved = match resolve(&record.environment, &build_context, &mut log) {
        Ok(lock) => lock,
        Err(error) => {
            drop(reporter);
            return Err(failed(
                &mut workspace,
                &record,
                None,
                started_at,
                &log,
                error,
            ));
        }
    };
    drop(reporter);
    match existing {
        None => {
            let lock = workspace.set_lock(&record.name, &record.version, &resolved)?;
            print_lock(&record, &lock, json, "is now locked")
        }
        Some(old) if old.lock_hash == resolved.hash() => print_lock(
            &record,
            &old,
            json,
            "resolves the same; its lock is unchanged",
        ),
        Some(old) => {
            let registration =
                workspace.register_relocked(&record.name, &record.version, &resolved)?;
            let new = &registration.record;
            let changes = lock_diff(&old.lock, &resolved);
            if json {
                printer::json(&json!({
                    "name": new.name,
                    "version": new.version,
                    "previousVersion": record.version,
                    "lockHash": resolved.hash(),
                    "changes": changes.iter().map(|(package, old, new)| json!({"package": package, "old": old, "new": new})).collect::<Vec<_>>(),
                }));
                return Ok(());
            }
            printer::out(format!(
                "The resolution of {}:{} moved: registered {}:{} with the new lock {}",
                record.name,
                record.version,
                new.name,
                new.version,
                strata_build::short(&resolved.hash())
            ));
            for (package, old, new) in changes {
                printer::out(format!(
                    "  {package}: {} -> {}",
                    old.as_deref().unwrap_or("(none)"),
                    new.as_deref().unwrap_or("(none)")
                ));
            }
            Ok(())
        }
    }
}

fn print_lock(record: &EnvironmentRecord, lock: &LockRecord, json: bool, what: &str) -> Result<()> {
    if json {
        printer::json(&json!({
            "name": record.name,
            "version": record.version,
            "lockHash": lock.lock_hash,
            "lock": lock.lock,
        }));
        return Ok(());
    }
    let python = lock.lock.python.as_ref().map_or_else(String::new, |p| {
        format!("python {} ({:?})", p.version, p.source).to_lowercase()
    });
    printer::out(format!(
        "{}:{} {what} (lock hash {}; {python}, {} conda and {} PyPI packages)",
        record.name,
        record.version,
        strata_build::short(&lock.lock_hash),
        lock.lock.conda.len(),
        lock.lock.pypi.len()
    ));
    for package in &lock.lock.conda {
        printer::out(format!(
            "  conda  {} {} {} ({})",
            package.name, package.version, package.build, package.channel
        ));
    }
    for package in &lock.lock.pypi {
        printer::out(format!("  pypi   {}=={}", package.name, package.version));
    }
    if let Some(user) = &lock.lock.user_managed {
        printer::out(format!(
            "  user-managed interpreter {} (python {}), {} frozen",
            user.interpreter,
            user.python_version,
            printer::count(user.freeze.len(), "package")
        ));
    }
    Ok(())
}

/// `strata env build NAME[:V]`.
pub(crate) fn build(context: &Context, environment: &str, json: bool) -> Result<()> {
    let reference = parse_ref(environment)?;
    let mut workspace = context.open_workspace()?;
    let reporter = TerminalReporter::new();
    let built = ensure_built(
        &mut workspace,
        &reference.name,
        reference.version.as_ref(),
        &reporter,
    )?;
    drop(reporter);
    if json {
        printer::json(&json!({
            "name": built.record.name,
            "version": built.record.version,
            "lockHash": built.lock.lock_hash,
            "prefix": built.prefix.path,
            "python": built.prefix.python,
            "reused": built.prefix.reused,
        }));
    } else {
        printer::out(built.prefix.path.display().to_string());
    }
    Ok(())
}

/// The environment variables that activate a prefix, plus the definition's own.
pub(crate) fn activation_env(built: &Built) -> std::collections::BTreeMap<String, String> {
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

fn activate(command: &mut Command, built: &Built) {
    command.env_remove("PYTHONHOME");
    command.envs(activation_env(built));
}

/// Builds `NAME[:V]` when needed, with progress, for commands that then leave the workspace.
fn built_for(context: &Context, environment: &str) -> Result<Built> {
    let reference = parse_ref(environment)?;
    let mut workspace = context.open_workspace()?;
    let reporter = TerminalReporter::new();
    ensure_built(
        &mut workspace,
        &reference.name,
        reference.version.as_ref(),
        &reporter,
    )
}

/// The program that replaces this process keeps the prefix's lease, so `cache gc` leaves the
/// prefix alone while it runs.
fn keep_lease(built: &Built) -> Result<()> {
    if let Some(lease) = &built.prefix.lease {
        lease.keep_across_exec()?;
    }
    Ok(())
}

/// `strata env exec NAME[:V] -- COMMAND...`: replaces this process, so the exit code is the
/// command's.
pub(crate) fn exec(context: &Context, environment: &str, argv: &[String]) -> Result<()> {
    let built = built_for(context, environment)?;
    keep_lease(&built)?;
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    activate(&mut command, &built);
    let error = command.exec();
    Err(UsageError::new(format!("Failed to run `{}`: {error}", argv[0])).into())
}

/// `strata env shell NAME[:V]`.
pub(crate) fn shell(context: &Context, environment: &str) -> Result<()> {
    let built = built_for(context, environment)?;
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_string());
    printer::note(format!(
        "Entering {}:{} ({}); exit the shell to leave",
        built.record.name,
        built.record.version,
        built.prefix.path.display()
    ));
    keep_lease(&built)?;
    let mut command = Command::new(&shell);
    activate(&mut command, &built);
    let error = command.exec();
    Err(UsageError::new(format!("Failed to start `{shell}`: {error}")).into())
}

/// `strata env build-log NAME[:V]`.
pub(crate) fn build_log(context: &Context, environment: &str) -> Result<()> {
    let reference = parse_ref(environment)?;
    let workspace = context.open_workspace()?;
    let record = workspace.get_environment(&reference.name, reference.version.as_ref())?;
    let Some(build) = workspace.last_build(&record.name, &record.version)? else {
        if let Some(lock) = workspace.get_lock(&record.name, &record.version)?
            && let Some(prefix) = lookup(&lock.lock_hash, &Cache::from_env())
        {
            return Err(UsageError::new(format!(
                "No build of {}:{} is recorded here: its lock's prefix {} was already in the cache (built for another version or workspace with the same lock) and was reused",
                record.name,
                record.version,
                prefix.path.display()
            ))
            .into());
        }
        return Err(UsageError::new(format!(
            "{}:{} has not been built",
            record.name, record.version
        ))
        .hint(format!(
            "Build it with `strata env build {}:{}`",
            record.name, record.version
        ))
        .into());
    };
    printer::note(format!(
        "Build of {}:{} {} at {} (finished {})",
        record.name,
        record.version,
        build.status,
        format_time(build.started_at),
        format_time(build.finished_at)
    ));
    if let Some(digest) = &build.log_digest {
        let bytes = workspace.blobs().read_verified(digest)?;
        printer::out(String::from_utf8_lossy(&bytes).trim_end());
    }
    Ok(())
}
