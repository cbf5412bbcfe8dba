//! A run's snapshot and its queued record.

use std::path::{Path, PathBuf};

use strata_spec::EnvironmentVersion;
use strata_store::{RunRecord, StoreError, Workspace};

/// Stores the snapshot and records a queued run.
pub fn create_run(
    workspace: &mut Workspace,
    experiment: &str,
    (env_name, env_version): (String, EnvironmentVersion),
    source: &Path,
    files: &[PathBuf],
    (script, arguments): (String, Vec<String>),
    target: &str,
) -> Result<RunRecord, StoreError> {
    let started = std::time::Instant::now();
    let (snapshot, _) = workspace.store_tree(source, files)?;
    tracing::debug!(
        "snapshot {snapshot}: {} files stored in {} ms",
        files.len(),
        started.elapsed().as_millis()
    );
    let id = run_id(experiment);
    let run = RunRecord {
        id: id.clone(),
        experiment: experiment.to_string(),
        status: strata_store::QUEUED.to_string(),
        env_name,
        env_version,
        lock_hash: None,
        script,
        arguments,
        source_dir: source.display().to_string(),
        snapshot: Some(snapshot),
        run_dir: workspace
            .root()
            .join("runs")
            .join(&id)
            .display()
            .to_string(),
        outputs: None,
        logs: None,
        exit_code: None,
        error: None,
        supervisor_pid: None,
        supervisor_start: None,
        process_group: None,
        cancel_requested: false,
        queued_at: strata_store::now_millis(),
        preparing_at: None,
        started_at: None,
        finished_at: None,
        target: target.to_string(),
        image: None,
    };
    workspace.create_run(&run)?;
    Ok(run)
}

/// `<experiment>_<unix seconds>_<8 hex>`, as Azure ML names runs.
pub fn run_id(experiment: &str) -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut bytes = [0u8; 4];
    let random = std::collections::hash_map::RandomState::new();
    let value =
        std::hash::BuildHasher::hash_one(&random, (std::process::id(), std::time::Instant::now()));
    bytes.copy_from_slice(&value.to_le_bytes()[..4]);
    format!("{experiment}_{seconds}_{}", hex_of(&bytes))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
