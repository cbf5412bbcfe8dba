//! Locking and building a version of a team server's workspace: the work happens on this
//! machine, in its working copy of the workspace, and the server keeps the outcome, so every
//! teammate builds from the same lock and sees who built what, and why a build failed.
//!
//! The server's lock always wins. A version locked there is built from that lock, whatever
//! the working copy holds; a version nobody has locked is resolved here and the lock is
//! offered to the server, whose first stored lock (this one, or another client's that got
//! there first) is then the one built from. A build made here is recorded on the server, a
//! failed one too, its log uploaded before the record that points at it.

use strata_build::{BuildContext, BuildLog, Cache, Reporter, resolve};
use strata_spec::{EnvironmentVersion, Lock, lock_diff};
use strata_store::store::{
    BlobStorage, EnvironmentQuery, MAX_PAGE_SIZE, WorkspaceStore, collect_all, pull_environment,
    upload_blobs,
};
use strata_store::{
    BuildRecord, EnvironmentRecord, LockRecord, RegisterOptions, Registration, StoreError,
    Workspace,
};

use crate::error::{PrepareError, ShareFailed};
use crate::prepare::{Built, EarlierLog, WorkspaceWheels, build_in, record_failure};
use crate::relock::LockOutcome;

/// How often a refresh names the next version again after a teammate registered it first.
const REGISTER_ATTEMPTS: usize = 5;

/// A team server's workspace, as its working copies reach it: records and blobs.
#[derive(Clone, Copy)]
pub struct SharedWorkspace<'a> {
    pub records: &'a dyn WorkspaceStore,
    pub blobs: &'a dyn BlobStorage,
}

/// Where the lock a version is built from came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockSource {
    /// The server had it.
    Server,
    /// It was resolved here and is the first lock the server stored.
    MadeHere,
    /// It was resolved here, but another client's lock was stored first: that one is used.
    Adopted,
}

/// A version of a server workspace and what locking it found or did.
#[derive(Debug, Clone)]
pub struct SharedLock {
    /// The version locked (or resolved again), as pulled into the working copy.
    pub record: EnvironmentRecord,
    pub outcome: LockOutcome,
}

/// A version of a server workspace built in its working copy.
#[derive(Debug)]
pub struct SharedBuilt {
    /// The build, as in an embedded workspace; its `build` is also recorded on the server.
    pub built: Built,
    pub lock_source: LockSource,
    /// Why the build made here is not recorded on the server, when it is not (a reader's
    /// token, a server away): the prefix is built and usable all the same, as it is when a
    /// cached one is reused, so this is for the caller to tell, not a failure.
    pub unrecorded: Option<StoreError>,
}

/// Builds `name` (its latest version on the server without `version`) in `working_copy`:
/// pulls the version, locks it as the server says (see the module), builds it (a cached
/// prefix of the lock is reused) and records the build on the server. A failed lock or build
/// is recorded on the server as well, with its log; when that recording fails, the error
/// says so ([`crate::BuildFailed::unshared`]), and for a build that succeeded
/// [`SharedBuilt::unrecorded`] does. Storing the lock is not optional: it fails the call.
///
/// Blocks while resolving and building: drive it on a multi-threaded runtime (conda solving and
/// installing run runtimes of their own).
pub async fn build_shared(
    shared: SharedWorkspace<'_>,
    working_copy: &mut Workspace,
    name: &str,
    version: Option<&EnvironmentVersion>,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<SharedBuilt, PrepareError> {
    let record = pull_environment(shared.records, working_copy, name, version).await?;
    let locked = lock_shared(shared, working_copy, &record, cache, reporter).await?;
    let built = crate::blocking::blocking(|| {
        build_in(working_copy, record, cache, reporter, locked.resolution)
    });
    match built {
        Ok(built) => {
            let unrecorded = match &built.build {
                Some(build) => share_build(shared, working_copy, build).await.err(),
                None => None,
            };
            Ok(SharedBuilt {
                built,
                lock_source: locked.source,
                unrecorded,
            })
        }
        Err(error) => Err(share_failure(shared, working_copy, error).await),
    }
}

/// `env lock [--refresh]` on a server workspace: the version's lock as the server has it, or
/// made here and stored there when it has none; with `refresh`, resolved again here, and when
/// the resolution moved, registered on the server as its next version with the new lock (the
/// same definition under a new version, as [`crate::relock`] does locally). Nothing is built.
///
/// The server has no single request that registers a version with its lock, so a moved
/// resolution is two: between them a teammate may lock the new version first, and then its
/// lock (equally fresh) is the one reported.
pub async fn relock_shared(
    shared: SharedWorkspace<'_>,
    working_copy: &mut Workspace,
    name: &str,
    version: Option<&EnvironmentVersion>,
    refresh: bool,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<SharedLock, PrepareError> {
    let record = pull_environment(shared.records, working_copy, name, version).await?;
    let outcome = relock_pulled(shared, working_copy, &record, refresh, cache, reporter).await?;
    Ok(SharedLock { record, outcome })
}

async fn relock_pulled(
    shared: SharedWorkspace<'_>,
    working_copy: &mut Workspace,
    record: &EnvironmentRecord,
    refresh: bool,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<LockOutcome, PrepareError> {
    if !refresh {
        let Locked { lock, source, .. } =
            lock_shared(shared, working_copy, record, cache, reporter).await?;
        return Ok(match source {
            LockSource::MadeHere => LockOutcome::Locked(lock),
            LockSource::Server | LockSource::Adopted => LockOutcome::AlreadyLocked(lock),
        });
    }
    let existing = shared
        .records
        .get_lock(&record.name, &record.version)
        .await?;
    let resolved =
        match crate::blocking::blocking(|| resolve_here(working_copy, record, cache, reporter)) {
            Ok((lock, _)) => lock,
            Err(error) => return Err(share_failure(shared, working_copy, error).await),
        };
    let Some(previous) = existing else {
        let (lock, source) = store_lock(shared, working_copy, record, &resolved).await?;
        return Ok(match source {
            LockSource::MadeHere => LockOutcome::Locked(lock),
            LockSource::Server | LockSource::Adopted => LockOutcome::AlreadyLocked(lock),
        });
    };
    if previous.lock_hash == resolved.hash() {
        return Ok(LockOutcome::Unchanged(previous));
    }
    let registration = register_next(shared, record).await?;
    let new = &registration.record;
    let stored = shared
        .records
        .set_lock(&new.name, &new.version, &resolved)
        .await
        .map_err(|source| share_error(shared, lock_of(new), source))?;
    pull_environment(shared.records, working_copy, &new.name, Some(&new.version)).await?;
    let changes = lock_diff(&previous.lock, &stored.lock);
    Ok(LockOutcome::Moved {
        registration: Box::new(registration),
        previous,
        lock_hash: stored.lock_hash,
        changes,
    })
}

/// The lock a version is built from, where it came from, and the log of resolving it when
/// that happened here.
struct Locked {
    lock: LockRecord,
    source: LockSource,
    resolution: Option<EarlierLog>,
}

/// The lock `record` (pulled into `working_copy`) is built from, and where it came from.
async fn lock_shared(
    shared: SharedWorkspace<'_>,
    working_copy: &mut Workspace,
    record: &EnvironmentRecord,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<Locked, PrepareError> {
    if let Some(there) = shared
        .records
        .get_lock(&record.name, &record.version)
        .await?
    {
        adopt(working_copy, record, &there)?;
        return Ok(Locked {
            lock: there,
            source: LockSource::Server,
            resolution: None,
        });
    }
    // A lock made here that never reached the server (it was away, or refused it) is offered
    // again rather than resolved again.
    let (lock, resolution) = match working_copy.get_lock(&record.name, &record.version)? {
        Some(here) => (here.lock, None),
        None => {
            match crate::blocking::blocking(|| resolve_here(working_copy, record, cache, reporter))
            {
                Ok((lock, resolution)) => (lock, Some(resolution)),
                Err(error) => return Err(share_failure(shared, working_copy, error).await),
            }
        }
    };
    let (lock, source) = store_lock(shared, working_copy, record, &lock).await?;
    Ok(Locked {
        lock,
        source,
        // Another client's lock was not resolved by this log.
        resolution: resolution.filter(|_| source == LockSource::MadeHere),
    })
}

/// Offers `lock` to the server and makes the lock it stored (first writer wins) the working
/// copy's.
async fn store_lock(
    shared: SharedWorkspace<'_>,
    working_copy: &mut Workspace,
    record: &EnvironmentRecord,
    lock: &Lock,
) -> Result<(LockRecord, LockSource), PrepareError> {
    let there = shared
        .records
        .set_lock(&record.name, &record.version, lock)
        .await
        .map_err(|source| share_error(shared, lock_of(record), source))?;
    adopt(working_copy, record, &there)?;
    let source = if there.lock_hash == lock.hash() {
        LockSource::MadeHere
    } else {
        LockSource::Adopted
    };
    Ok((there, source))
}

/// Makes the server's lock the working copy's, replacing one made here.
fn adopt(
    working_copy: &mut Workspace,
    record: &EnvironmentRecord,
    there: &LockRecord,
) -> Result<(), StoreError> {
    let here = working_copy.set_lock(&record.name, &record.version, &there.lock)?;
    if here.lock_hash != there.lock_hash {
        working_copy.replace_lock(&record.name, &record.version, &there.lock)?;
    }
    Ok(())
}

/// Resolves `record` here without storing the lock (the server decides which lock is kept),
/// with the log of doing so; a failure is recorded in the working copy with its log.
fn resolve_here(
    working_copy: &mut Workspace,
    record: &EnvironmentRecord,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<(Lock, EarlierLog), PrepareError> {
    let started_at = strata_store::now_millis();
    let mut log = BuildLog::default();
    log.line(&format!(
        "locking {}:{} (spec hash {})",
        record.name, record.version, record.spec_hash
    ));
    let wheels = WorkspaceWheels(working_copy);
    let context = BuildContext {
        cache,
        wheels: &wheels,
        reporter,
    };
    match resolve(&record.environment, &context, &mut log) {
        Ok(lock) => Ok((lock, EarlierLog { log, started_at })),
        Err(error) => Err(record_failure(
            working_copy,
            record,
            None,
            started_at,
            &log,
            error,
        )),
    }
}

/// Uploads a build's log, then records the build: the record never points at a blob the
/// server does not have.
async fn share_build(
    shared: SharedWorkspace<'_>,
    working_copy: &Workspace,
    build: &BuildRecord,
) -> Result<(), StoreError> {
    let digests: Vec<String> = build.log_digest.iter().cloned().collect();
    upload_blobs(working_copy, shared.blobs, &digests).await?;
    shared.records.record_build(build).await
}

/// Records a failed lock or build on the server too; a failure to do so goes into the error,
/// which stays the build's.
async fn share_failure(
    shared: SharedWorkspace<'_>,
    working_copy: &Workspace,
    error: PrepareError,
) -> PrepareError {
    let PrepareError::Failed(mut failed) = error else {
        return error;
    };
    if let Some(record) = &failed.record
        && let Err(source) = share_build(shared, working_copy, record).await
    {
        failed.unshared = Some(source);
    }
    PrepareError::Failed(failed)
}

/// Registers the definition of `record` on the server again, as the version after the
/// highest it has. The server answers an unchanged definition with its existing version, so
/// the new version is named explicitly, and named again when a teammate took it meanwhile.
async fn register_next(
    shared: SharedWorkspace<'_>,
    record: &EnvironmentRecord,
) -> Result<Registration, PrepareError> {
    let query = EnvironmentQuery {
        all_versions: true,
        include_anonymous: true,
        name: Some(record.name.clone()),
        ..EnvironmentQuery::default()
    };
    let what = || format!("a new version of `{}`", record.name);
    let mut attempts = 0;
    loop {
        let versions = collect_all(|cursor| {
            let query = &query;
            async move {
                shared
                    .records
                    .list_environments(query, cursor.as_deref(), MAX_PAGE_SIZE)
                    .await
            }
        })
        .await?;
        let highest = versions
            .iter()
            .filter_map(|summary| summary.version.as_number())
            .max()
            .unwrap_or(0);
        let mut environment = record.environment.clone();
        environment.version = Some(EnvironmentVersion::number(highest + 1).to_string());
        match shared
            .records
            .register_environment(environment, RegisterOptions::default())
            .await
        {
            Ok(registration) => return Ok(registration),
            Err(StoreError::VersionConflict { .. }) if attempts + 1 < REGISTER_ATTEMPTS => {
                attempts += 1;
            }
            Err(source) => return Err(share_error(shared, what(), source)),
        }
    }
}

fn lock_of(record: &EnvironmentRecord) -> String {
    format!("the lock of `{}:{}`", record.name, record.version)
}

fn share_error(shared: SharedWorkspace<'_>, what: String, source: StoreError) -> PrepareError {
    PrepareError::Share(Box::new(ShareFailed {
        what,
        location: shared.records.location(),
        source,
    }))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;

    use strata_build::SilentReporter;
    use strata_spec::{Environment, UserManagedLock};
    use strata_store::store::{LocalBlobs, SqliteStore};

    use super::*;

    /// A team server: a workspace directory behind the interfaces, as the conformance suite
    /// shows every implementation behaves alike.
    struct Server {
        _directory: tempfile::TempDir,
        root: std::path::PathBuf,
        records: SqliteStore,
        blobs: LocalBlobs,
    }

    impl Server {
        fn new() -> Self {
            let directory = tempfile::tempdir().unwrap();
            let workspace = Workspace::init(directory.path()).unwrap();
            let root = workspace.root().to_path_buf();
            let records = SqliteStore::new(workspace);
            let blobs = records.blobs();
            Self {
                _directory: directory,
                root,
                records,
                blobs,
            }
        }

        fn shared(&self) -> SharedWorkspace<'_> {
            SharedWorkspace {
                records: &self.records,
                blobs: &self.blobs,
            }
        }

        /// Another client's connection, for what a teammate does meanwhile.
        fn teammate(&self) -> Workspace {
            Workspace::open(&self.root).unwrap()
        }
    }

    /// An environment whose lock and build run no installer: the Python on PATH, frozen.
    fn user_managed(name: &str, interpreter: &str) -> Environment {
        let mut environment = Environment::new(name);
        environment.python.user_managed_dependencies = true;
        environment.python.interpreter_path = interpreter.to_string();
        environment
    }

    /// A lock another client made for the same interpreter: different, and as buildable.
    fn teammates_lock(version: &str) -> Lock {
        Lock {
            version: strata_spec::LOCK_FORMAT_VERSION,
            platform: strata_build::PLATFORM.to_string(),
            python: None,
            conda: Vec::new(),
            pypi: Vec::new(),
            pip_options: Vec::new(),
            user_managed: Some(UserManagedLock {
                interpreter: "python3".to_string(),
                python_version: version.to_string(),
                freeze: vec!["teammates-package==1.0".to_string()],
            }),
            base_image: None,
        }
    }

    fn working_copy(directory: &Path) -> Workspace {
        Workspace::init(directory).unwrap()
    }

    async fn server_builds(server: &Server, name: &str) -> Vec<BuildRecord> {
        let version = EnvironmentVersion::number(1);
        let builds = server
            .records
            .list_builds(name, &version, None, 10)
            .await
            .unwrap()
            .items;
        let teammate = server.teammate();
        for build in &builds {
            if let Some(digest) = &build.log_digest {
                assert!(
                    teammate.blobs().contains(digest),
                    "a build record points at a stored log"
                );
            }
        }
        builds
    }

    /// Stores a teammate's lock on the server the first time resolving reports a step: the
    /// other client got there while this one was resolving.
    struct RacingTeammate<'a> {
        server: &'a Server,
        lock: Lock,
        raced: Cell<bool>,
    }

    impl Reporter for RacingTeammate<'_> {
        fn step(&self, _message: &str) {
            if !self.raced.replace(true) {
                let version = EnvironmentVersion::number(1);
                self.server
                    .teammate()
                    .set_lock("racy", &version, &self.lock)
                    .unwrap();
            }
        }
    }

    #[tokio::test]
    async fn a_lock_stored_first_by_another_client_is_adopted_and_built_from() {
        let server = Server::new();
        server
            .records
            .register_environment(user_managed("racy", "python3"), RegisterOptions::default())
            .await
            .unwrap();
        let here = tempfile::tempdir().unwrap();
        let mut copy = working_copy(here.path());
        let cache = Cache::new(here.path().join("cache"));
        let theirs = teammates_lock("3.0.0");
        let teammate = RacingTeammate {
            server: &server,
            lock: theirs.clone(),
            raced: Cell::new(false),
        };
        let shared = build_shared(server.shared(), &mut copy, "racy", None, &cache, &teammate)
            .await
            .unwrap();
        assert!(
            teammate.raced.get(),
            "the teammate stored its lock meanwhile"
        );
        assert!(shared.unrecorded.is_none(), "{:?}", shared.unrecorded);
        assert_eq!(shared.lock_source, LockSource::Adopted);
        assert_eq!(shared.built.lock.lock_hash, theirs.hash());
        let version = EnvironmentVersion::number(1);
        assert_eq!(
            copy.get_lock("racy", &version).unwrap().unwrap().lock_hash,
            theirs.hash(),
            "the working copy holds the server's lock"
        );
        let build = shared.built.build.expect("it was built here");
        assert_eq!(build.lock_hash.as_deref(), Some(theirs.hash().as_str()));
        let recorded = server_builds(&server, "racy").await;
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert_eq!(recorded[0].status, "succeeded");
        assert_eq!(recorded[0].lock_hash, build.lock_hash);
        let digest = recorded[0].log_digest.as_deref().unwrap();
        let log = server.teammate().blobs().read_verified(digest).unwrap();
        let log = String::from_utf8_lossy(&log);
        assert!(
            log.contains(&format!("using the stored lock {}", theirs.hash())),
            "{log}"
        );
        assert!(
            !log.contains("locking racy:1"),
            "the resolution that lost is not this build's: {log}"
        );
    }

    #[tokio::test]
    async fn the_servers_lock_wins_over_one_the_working_copy_made() {
        let server = Server::new();
        server
            .records
            .register_environment(user_managed("env", "python3"), RegisterOptions::default())
            .await
            .unwrap();
        let here = tempfile::tempdir().unwrap();
        let mut copy = working_copy(here.path());
        let cache = Cache::new(here.path().join("cache"));
        let version = EnvironmentVersion::number(1);
        // Locked here once, while the server had no lock; a teammate's reached it first.
        pull_environment(&server.records, &mut copy, "env", None)
            .await
            .unwrap();
        copy.set_lock("env", &version, &teammates_lock("1.0.0"))
            .unwrap();
        let theirs = teammates_lock("2.0.0");
        server
            .teammate()
            .set_lock("env", &version, &theirs)
            .unwrap();

        let outcome = relock_shared(
            server.shared(),
            &mut copy,
            "env",
            Some(&version),
            false,
            &cache,
            &SilentReporter,
        )
        .await
        .unwrap()
        .outcome;
        let LockOutcome::AlreadyLocked(lock) = outcome else {
            panic!("the server had a lock: {outcome:?}");
        };
        assert_eq!(lock.lock_hash, theirs.hash());
        let built = build_shared(
            server.shared(),
            &mut copy,
            "env",
            Some(&version),
            &cache,
            &SilentReporter,
        )
        .await
        .unwrap();
        assert_eq!(built.lock_source, LockSource::Server);
        assert_eq!(built.built.lock.lock_hash, theirs.hash());
    }

    #[tokio::test]
    async fn a_failed_lock_is_recorded_on_the_server_with_its_log() {
        let server = Server::new();
        server
            .records
            .register_environment(
                user_managed("broken", "/nonexistent/python"),
                RegisterOptions::default(),
            )
            .await
            .unwrap();
        let here = tempfile::tempdir().unwrap();
        let mut copy = working_copy(here.path());
        let cache = Cache::new(here.path().join("cache"));
        let error = build_shared(
            server.shared(),
            &mut copy,
            "broken",
            None,
            &cache,
            &SilentReporter,
        )
        .await
        .unwrap_err();
        let PrepareError::Failed(failed) = error else {
            panic!("a failed lock is a build failure: {error:?}");
        };
        assert!(failed.locking);
        assert!(failed.unshared.is_none(), "{failed:?}");
        let recorded = server_builds(&server, "broken").await;
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert_eq!(recorded[0].status, "failed");
        assert!(
            recorded[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("/nonexistent/python")),
            "{recorded:?}"
        );
        let digest = recorded[0].log_digest.as_deref().unwrap();
        let log = server.teammate().blobs().read_verified(digest).unwrap();
        assert!(
            String::from_utf8_lossy(&log).contains("error:"),
            "the log says why"
        );
        let version = EnvironmentVersion::number(1);
        let lock = server.records.get_lock("broken", &version).await.unwrap();
        assert!(lock.is_none(), "nothing was locked");
    }

    #[tokio::test]
    async fn a_moved_resolution_is_the_next_version_on_the_server_with_the_new_lock() {
        let server = Server::new();
        server
            .records
            .register_environment(
                user_managed("moving", "python3"),
                RegisterOptions::default(),
            )
            .await
            .unwrap();
        let version = EnvironmentVersion::number(1);
        let old = teammates_lock("1.0.0");
        server
            .teammate()
            .set_lock("moving", &version, &old)
            .unwrap();
        let here = tempfile::tempdir().unwrap();
        let mut copy = working_copy(here.path());
        let cache = Cache::new(here.path().join("cache"));
        let outcome = relock_shared(
            server.shared(),
            &mut copy,
            "moving",
            None,
            true,
            &cache,
            &SilentReporter,
        )
        .await
        .unwrap()
        .outcome;
        let LockOutcome::Moved {
            registration,
            previous,
            lock_hash,
            ..
        } = outcome
        else {
            panic!("the interpreter's freeze is not the teammate's: {outcome:?}");
        };
        assert_eq!(previous.lock_hash, old.hash());
        assert_eq!(registration.record.version, EnvironmentVersion::number(2));
        let there = server
            .records
            .get_lock("moving", &registration.record.version)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(there.lock_hash, lock_hash);
        assert_eq!(
            server
                .records
                .get_lock("moving", &version)
                .await
                .unwrap()
                .unwrap()
                .lock_hash,
            old.hash(),
            "the old version keeps its lock"
        );
        assert_eq!(
            copy.get_lock("moving", &registration.record.version)
                .unwrap()
                .unwrap()
                .lock_hash,
            lock_hash,
            "the working copy has the new version"
        );
        // Refreshing the new version again resolves the same.
        let again = relock_shared(
            server.shared(),
            &mut copy,
            "moving",
            None,
            true,
            &cache,
            &SilentReporter,
        )
        .await
        .unwrap()
        .outcome;
        assert!(
            matches!(&again, LockOutcome::Unchanged(lock) if lock.lock_hash == lock_hash),
            "{again:?}"
        );
    }
}
