//! Locking, building and entering environments: the build path runs and services use too.

use std::os::unix::process::CommandExt as _;
use std::process::Command;

use anyhow::Result;
use serde_json::json;
use strata_build::{Cache, Reporter};
use strata_core::{LockOutcome, PrepareError};
use strata_store::{BuildRecord, EnvironmentRecord, LockRecord, Workspace, format_time};

use crate::commands::run_remote::RemoteRun;
use crate::commands::{Context, parse_ref};
use crate::errors::UsageError;
use crate::printer;
use crate::progress::TerminalReporter;

pub(crate) use strata_core::{Built, activation_env};

/// A use case's error as the CLI reports it: a failed build stays itself in the chain, so its
/// hint names the recorded log.
pub(crate) fn cli_error(error: PrepareError) -> anyhow::Error {
    match error {
        PrepareError::Store(error) => error.into(),
        PrepareError::Failed(failed) => (*failed).into(),
        PrepareError::Share(failed) => (*failed).into(),
    }
}

/// [`strata_core::ensure_built`], with the CLI's errors.
pub(crate) fn ensure_built(
    workspace: &mut Workspace,
    name: &str,
    version: Option<&strata_spec::EnvironmentVersion>,
    reporter: &dyn Reporter,
) -> Result<Built> {
    strata_core::ensure_built(workspace, name, version, reporter).map_err(cli_error)
}

/// `strata env lock NAME[:V] [--refresh]` and `strata env update NAME --refresh`.
///
/// On a server workspace the lock is the server's: adopted when it has one, else made here
/// and stored there; a moved resolution is registered there as its next version.
pub(crate) fn lock(context: &Context, environment: &str, refresh: bool, json: bool) -> Result<()> {
    let reference = parse_ref(environment)?;
    let (record, outcome) = match context.server_url() {
        Some(url) => {
            let remote = RemoteRun::open(context, url)?;
            let mut workspace = remote.working_copy()?;
            let locked = remote.relock(
                &mut workspace,
                &reference.name,
                reference.version.as_ref(),
                refresh,
            )?;
            (locked.record, locked.outcome)
        }
        None => {
            let mut workspace = context.open_workspace()?;
            let record = workspace.get_environment(&reference.name, reference.version.as_ref())?;
            let reporter = TerminalReporter::new();
            let outcome = strata_core::relock(
                &mut workspace,
                &record,
                refresh,
                &Cache::from_env(),
                &reporter,
            );
            drop(reporter);
            (record, outcome.map_err(cli_error)?)
        }
    };
    match outcome {
        LockOutcome::AlreadyLocked(lock) => print_lock(&record, &lock, json, "is locked"),
        LockOutcome::Locked(lock) => print_lock(&record, &lock, json, "is now locked"),
        LockOutcome::Unchanged(lock) => print_lock(
            &record,
            &lock,
            json,
            "resolves the same; its lock is unchanged",
        ),
        LockOutcome::Moved {
            registration,
            previous: _,
            lock_hash,
            changes,
        } => {
            let new = &registration.record;
            if json {
                printer::json(&json!({
                    "name": new.name,
                    "version": new.version,
                    "previousVersion": record.version,
                    "lockHash": lock_hash,
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
                strata_build::short(&lock_hash)
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

/// `strata env build NAME[:V]`; on a server workspace the build is made here and recorded
/// on the server.
pub(crate) fn build(context: &Context, environment: &str, json: bool) -> Result<()> {
    let built = built_for(context, environment)?;
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

fn activate(command: &mut Command, built: &Built) {
    command.env_remove("PYTHONHOME");
    command.envs(activation_env(built));
}

/// Builds `NAME[:V]` when needed, with progress: in the workspace, or for a server workspace
/// in its working copy, the build recorded on the server.
fn built_for(context: &Context, environment: &str) -> Result<Built> {
    let reference = parse_ref(environment)?;
    if let Some(url) = context.server_url() {
        let remote = RemoteRun::open(context, url)?;
        let mut workspace = remote.working_copy()?;
        return remote.build(&mut workspace, &reference.name, reference.version.as_ref());
    }
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
    if context.server_url().is_some() {
        return build_log_on_server(context, &reference);
    }
    let workspace = context.open_workspace()?;
    let record = workspace.get_environment(&reference.name, reference.version.as_ref())?;
    let Some(build) = workspace.last_build(&record.name, &record.version)? else {
        if let Some(lock) = workspace.get_lock(&record.name, &record.version)?
            && let Some(prefix) = strata_build::lookup(&lock.lock_hash, &Cache::from_env())
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
    print_build_header(&record, &build);
    if let Some(digest) = &build.log_digest {
        let bytes = workspace.blobs().read_verified(digest)?;
        printer::out(String::from_utf8_lossy(&bytes).trim_end());
    }
    Ok(())
}

/// The last build the server recorded of a version (made on whichever machine), with its log
/// downloaded from the server.
fn build_log_on_server(context: &Context, reference: &strata_spec::EnvironmentRef) -> Result<()> {
    let opened = context.open()?;
    let record = opened.block_on(
        opened
            .records
            .get_environment(&reference.name, reference.version.as_ref()),
    )?;
    let builds = opened.block_on(opened.records.list_builds(
        &record.name,
        &record.version,
        None,
        1,
    ))?;
    let Some(build) = builds.items.into_iter().next() else {
        return Err(UsageError::new(format!(
            "No build of {}:{} is recorded on the server",
            record.name, record.version
        ))
        .hint(format!(
            "Build it with `strata env build {}:{}` (the build is recorded on the server)",
            record.name, record.version
        ))
        .into());
    };
    print_build_header(&record, &build);
    if let Some(digest) = &build.log_digest {
        let bytes = opened.read_blob(digest)?;
        printer::out(String::from_utf8_lossy(&bytes).trim_end());
    }
    Ok(())
}

fn print_build_header(record: &EnvironmentRecord, build: &BuildRecord) {
    printer::note(format!(
        "Build of {}:{} {} at {} (finished {})",
        record.name,
        record.version,
        build.status,
        format_time(build.started_at),
        format_time(build.finished_at)
    ));
}
