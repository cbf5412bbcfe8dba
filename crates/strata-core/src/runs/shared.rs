//! Runs of a server workspace: they execute in a working copy on this machine (the server's
//! environment version and lock pulled into it), are recorded on the server with their
//! snapshot, and report status, log, metrics and results there while they run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use strata_run::RunReporter;
use strata_spec::EnvironmentVersion;
use strata_store::store::{BlobStorage, WorkspaceStore, pull_environment};
use strata_store::{RunRecord, StoreError, Workspace};

use super::{Result, RunEnvironment, RunsError};

/// Where the working copy of a server workspace lives on this machine: in the cache, named by
/// the URL (never holding the token).
pub fn working_copy(url: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(url.trim_end_matches('/').as_bytes()));
    strata_build::Cache::from_env()
        .root()
        .join("server-workspaces")
        .join(&digest[..16])
        .join(strata_store::WORKSPACE_DIR)
}

/// The working copy of a server workspace, made when missing.
pub fn open_working_copy(url: &str) -> Result<Workspace, StoreError> {
    let root = working_copy(url);
    if root.join("strata.db").is_file() {
        return Workspace::open(&root);
    }
    // Two commands making it at once: whichever loses opens the winner's.
    match Workspace::init(&root) {
        Err(StoreError::WorkspaceExists { .. }) => Workspace::open(&root),
        made => made,
    }
}

/// The environment version a run of a server workspace uses, pulled with its lock into the
/// working copy: a registered one (the default environment without one); definitions are
/// registered on the server first.
pub async fn pull_run_environment(
    records: &dyn WorkspaceStore,
    workspace: &mut Workspace,
    wanted: &RunEnvironment,
) -> Result<(String, EnvironmentVersion)> {
    let reference = match wanted {
        RunEnvironment::Registered(reference) => reference.clone(),
        RunEnvironment::Default => strata_spec::DEFAULT_ENVIRONMENT.parse()?,
        RunEnvironment::Directory(_) | RunEnvironment::Packages { .. } => {
            return Err(RunsError::NotRegistered);
        }
    };
    let record = pull_environment(
        records,
        workspace,
        &reference.name,
        reference.version.as_ref(),
    )
    .await?;
    Ok((record.name, record.version))
}

/// Uploads the run's snapshot, then records the run on the server (blobs first).
pub async fn publish_run(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    workspace: &Workspace,
    run: &RunRecord,
) -> Result<(), StoreError> {
    if let Some(snapshot) = &run.snapshot {
        strata_store::store::upload_tree(workspace, blobs, snapshot).await?;
    }
    records.create_run(run).await.map(drop)
}

/// A thread reporting one run of the working copy at `root` to the server until the run has
/// ended there too.
pub struct ReporterThread {
    id: String,
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<()>>,
}

impl ReporterThread {
    /// Starts reporting; `warn` is told once when the server does not take a report (the run
    /// goes on, and reporting catches up).
    pub fn start(
        records: Arc<dyn WorkspaceStore>,
        blobs: Arc<dyn BlobStorage>,
        root: PathBuf,
        id: &str,
        warn: Box<dyn Fn(&str) + Send>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let run_id = id.to_string();
        let handle = std::thread::spawn(move || {
            report_until_done(&records, &blobs, &root, &run_id, &flag, warn.as_ref())
        });
        Self {
            id: id.to_string(),
            stop,
            handle,
        }
    }

    /// Waits until the final status is reported (the run has ended locally).
    pub fn finish(self) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .join()
            .map_err(|_| RunsError::ReporterPanicked { id: self.id })?
    }
}

fn report_until_done(
    records: &Arc<dyn WorkspaceStore>,
    blobs: &Arc<dyn BlobStorage>,
    root: &Path,
    id: &str,
    stop: &AtomicBool,
    warn: &dyn Fn(&str),
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RunsError::Runtime)?;
    let workspace = Workspace::open(root)?;
    let mut reporter = RunReporter::new(records.clone(), blobs.clone(), id);
    let mut warned = false;
    let mut failures_after_stop = 0;
    loop {
        match runtime.block_on(reporter.sync(&workspace)) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            // The server may be briefly away; the run goes on and reporting catches up.
            Err(error) => {
                if !warned {
                    warn(&format!(
                        "Reporting run {id} to the server failed ({error}); retrying"
                    ));
                    warned = true;
                }
                if stop.load(Ordering::SeqCst) {
                    failures_after_stop += 1;
                    if failures_after_stop >= 20 {
                        return Err(RunsError::Unreported {
                            id: id.to_string(),
                            source: Box::new(error),
                        });
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(if stop.load(Ordering::SeqCst) {
            100
        } else {
            400
        }));
    }
}
