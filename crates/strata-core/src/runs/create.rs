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
    let run_dir = workspace.root().join("runs").join(&id);
    let run = RunRecord {
        env_name,
        env_version,
        script,
        arguments,
        source_dir: source.display().to_string(),
        snapshot: Some(snapshot),
        ..RunRecord::queued(&id, experiment, run_dir.display().to_string(), target)
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
