//! `env lock [--refresh]`: a version's lock, made once, or resolved again to see whether it
//! moved (a moved resolution is a new version, since versions are immutable).

use strata_build::{BuildContext, BuildLog, Cache, Reporter, resolve};
use strata_spec::lock_diff;
use strata_store::{EnvironmentRecord, LockRecord, Registration, Workspace};

use crate::error::PrepareError;
use crate::prepare::{WorkspaceWheels, record_failure};

/// What locking a version found or did.
#[derive(Debug, Clone)]
pub enum LockOutcome {
    /// It was locked and no refresh was asked for.
    AlreadyLocked(LockRecord),
    /// It had no lock; this one is stored now.
    Locked(LockRecord),
    /// Resolving again gave the same lock.
    Unchanged(LockRecord),
    /// Resolving again moved: a new version holds the new lock.
    Moved {
        registration: Box<Registration>,
        previous: LockRecord,
        /// The hash of the new lock.
        lock_hash: String,
        /// `(package, old version, new version)`, `None` where it is absent.
        changes: Vec<(String, Option<String>, Option<String>)>,
    },
}

/// Locks `record` when it has no lock, or resolves it again when `refresh`; a failed
/// resolution is recorded like a failed build.
pub fn relock(
    workspace: &mut Workspace,
    record: &EnvironmentRecord,
    refresh: bool,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<LockOutcome, PrepareError> {
    let existing = workspace.get_lock(&record.name, &record.version)?;
    if !refresh && let Some(lock) = existing {
        return Ok(LockOutcome::AlreadyLocked(lock));
    }
    let mut log = BuildLog::default();
    log.line(&format!("locking {}:{}", record.name, record.version));
    let started_at = strata_store::now_millis();
    let wheels = WorkspaceWheels(workspace);
    let context = BuildContext {
        cache,
        wheels: &wheels,
        reporter,
    };
    let resolved = match resolve(&record.environment, &context, &mut log) {
        Ok(lock) => lock,
        Err(error) => {
            return Err(record_failure(
                workspace, record, None, started_at, &log, error,
            ));
        }
    };
    Ok(match existing {
        None => {
            LockOutcome::Locked(workspace.set_lock(&record.name, &record.version, &resolved)?)
        }
        Some(old) if old.lock_hash == resolved.hash() => LockOutcome::Unchanged(old),
        Some(old) => {
            let registration =
                workspace.register_relocked(&record.name, &record.version, &resolved)?;
            let changes = lock_diff(&old.lock, &resolved);
            LockOutcome::Moved {
                registration: Box::new(registration),
                previous: old,
                lock_hash: resolved.hash(),
                changes,
            }
        }
    })
}
