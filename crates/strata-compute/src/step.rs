//! The job step on the node: the environment materialized from its pack into the node's
//! cache (or the shared cache used directly), then the script exec'd in the run directory,
//! so Slurm's signals and exit code are the script's own.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::ComputeError;
use crate::pack::materialize_pack;

/// What the node did to get the environment, written into the run directory.
pub const MATERIALIZE_RECORD: &str = ".strata-run/materialize.json";

/// How the job gets its environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
pub enum EnvSource {
    /// A pack to materialize into the node's cache.
    Pack {
        path: PathBuf,
        lock_hash: String,
        /// The node's cache; default from the node's environment.
        node_cache: Option<PathBuf>,
    },
    /// A built prefix the node sees (a shared cache).
    Prefix { path: PathBuf, python: PathBuf },
}

/// Everything the job step needs, in the run directory as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub run_id: String,
    pub experiment: String,
    pub workspace: PathBuf,
    pub run_dir: PathBuf,
    pub script: String,
    pub arguments: Vec<String>,
    /// The definition's variables and `STRATA_ENVIRONMENT`.
    pub variables: BTreeMap<String, String>,
    /// The directory holding the `strata` Python module.
    pub python_module: PathBuf,
    pub metrics_file: PathBuf,
    pub env: EnvSource,
}

/// The node's cache: `STRATA_NODE_CACHE`, else `$TMPDIR/strata-node-cache`.
pub fn node_cache_dir(configured: Option<&Path>) -> PathBuf {
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("STRATA_NODE_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::temp_dir().join("strata-node-cache")
}

/// Materializes the environment and execs the script; returns only on failure.
pub fn job_step(spec: &JobSpec) -> Result<std::convert::Infallible, ComputeError> {
    let (prefix, python, record) = match &spec.env {
        EnvSource::Pack {
            path,
            lock_hash,
            node_cache,
        } => {
            let cache = node_cache_dir(node_cache.as_deref());
            let materialized = materialize_pack(path, lock_hash, &cache)?;
            let record = serde_json::json!({
                "source": "pack",
                "lockHash": lock_hash,
                "prefix": materialized.prefix,
                "reused": materialized.reused,
                "millis": materialized.millis,
            });
            (materialized.prefix, materialized.python, record)
        }
        EnvSource::Prefix { path, python } => (
            path.clone(),
            python.clone(),
            serde_json::json!({"source": "shared-cache", "prefix": path, "reused": true, "millis": 0}),
        ),
    };
    let record_path = spec.run_dir.join(MATERIALIZE_RECORD);
    fs_err::write(&record_path, record.to_string()).map_err(ComputeError::io(&record_path))?;

    let bin = python
        .parent()
        .map_or_else(|| prefix.join("bin"), Path::to_path_buf);
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut python_path = spec.python_module.clone().into_os_string();
    if let Some(existing) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
        python_path.push(":");
        python_path.push(existing);
    }
    let mut command = Command::new(&python);
    command.env_remove("PYTHONHOME");
    if let Ok(joined) = std::env::join_paths(paths) {
        command.env("PATH", joined);
    }
    if prefix.join("pyvenv.cfg").is_file() {
        command.env("VIRTUAL_ENV", &prefix);
    }
    if prefix.join("conda-meta").is_dir() {
        command.env("CONDA_PREFIX", &prefix);
    }
    command
        .envs(&spec.variables)
        .env("PYTHONUNBUFFERED", "1")
        .env("STRATA_RUN_ID", &spec.run_id)
        .env("STRATA_EXPERIMENT", &spec.experiment)
        .env("STRATA_WORKSPACE", &spec.workspace)
        .env("STRATA_METRICS_FILE", &spec.metrics_file)
        .env("PYTHONPATH", python_path)
        .arg(&spec.script)
        .args(&spec.arguments)
        .current_dir(&spec.run_dir);
    let error = command.exec();
    Err(ComputeError::Io {
        path: python,
        source: error,
    })
}
