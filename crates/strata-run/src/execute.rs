//! Executing a run: its own directory with the snapshot, `outputs/` and `logs/`; the script in
//! its own process group with output streamed and kept; cancellation by signal or request;
//! outputs, logs and metrics stored whatever the outcome.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use strata_store::{CANCELED, COMPLETED, FAILED, Metric, RunRecord, Workspace};

use crate::error::RunError;
use crate::metrics::{Record, read_records};
use crate::process::signal_group;

/// The `strata` Python module, put on `PYTHONPATH` of every run.
pub const PYTHON_MODULE: &str = include_str!("../../../python/strata/__init__.py");

/// Where a run's output goes besides its log file.
pub trait OutputSink: Send + Sync {
    fn stdout(&self, bytes: &[u8]);
    fn stderr(&self, bytes: &[u8]);
}

/// Output kept only in the log (detached runs).
pub struct NoSink;

impl OutputSink for NoSink {
    fn stdout(&self, _bytes: &[u8]) {}
    fn stderr(&self, _bytes: &[u8]) {}
}

/// A run inside a container: the script runs in `image` under podman, with the run directory,
/// the workspace and the `strata` module mounted at the same paths as on the host, so outputs,
/// logs and metrics land exactly where a local run puts them.
#[derive(Debug, Clone)]
pub struct ContainerLaunch {
    pub podman: PathBuf,
    /// The image as podman names it.
    pub image: String,
    /// The container's name, unique per run (`podman rm` after a forced stop uses it).
    pub name: String,
}

/// How to run a prepared run.
pub struct Execution<'a> {
    pub run: &'a RunRecord,
    /// The environment's interpreter (inside the image for a container run).
    pub python: &'a Path,
    /// Run in a container instead of directly.
    pub container: Option<&'a ContainerLaunch>,
    /// Variables that activate the environment plus the definition's own.
    pub environment: &'a BTreeMap<String, String>,
    pub sink: Arc<dyn OutputSink>,
    /// How long a canceled script gets between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: &'static str,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

/// The log of a run's stdout and stderr, in its `logs/`.
pub const STD_LOG: &str = "logs/std_log.txt";
/// Where the Python module writes metrics, outside `outputs/` and `logs/`.
pub const METRICS_FILE: &str = ".strata-run/metrics.jsonl";

/// Lays out a run's directory: the snapshot, `outputs/`, `logs/`.
pub fn prepare_run_dir(workspace: &Workspace, run: &RunRecord) -> Result<PathBuf, RunError> {
    let dir = PathBuf::from(&run.run_dir);
    if let Some(snapshot) = &run.snapshot {
        let started = std::time::Instant::now();
        let manifest = workspace.read_manifest(snapshot)?;
        let count = workspace.restore_tree(&manifest, "", &dir)?;
        tracing::debug!(
            "run {}: {count} snapshot files restored in {} ms",
            run.id,
            started.elapsed().as_millis()
        );
    }
    for sub in ["outputs", "logs", ".strata-run"] {
        let path = dir.join(sub);
        fs_err::create_dir_all(&path).map_err(RunError::io(&path))?;
    }
    Ok(dir)
}

/// Writes the Python module into the workspace (when it changed) and returns its directory.
pub fn python_module_dir(workspace: &Workspace) -> Result<PathBuf, RunError> {
    let dir = workspace.root().join("python");
    let file = dir.join("strata").join("__init__.py");
    if fs_err::read_to_string(&file).ok().as_deref() != Some(PYTHON_MODULE) {
        fs_err::create_dir_all(dir.join("strata")).map_err(RunError::io(&dir))?;
        let staging = file.with_extension(format!("tmp{}", std::process::id()));
        fs_err::write(&staging, PYTHON_MODULE).map_err(RunError::io(&staging))?;
        fs_err::rename(&staging, &file).map_err(RunError::io(&file))?;
    }
    Ok(dir)
}

/// Runs the script to its end (or cancellation) and records the outcome.
pub fn execute(workspace: &mut Workspace, execution: &Execution<'_>) -> Result<Outcome, RunError> {
    let run = execution.run;
    let dir = PathBuf::from(&run.run_dir);
    let module = python_module_dir(workspace)?;
    let log_path = dir.join(STD_LOG);
    let log = Arc::new(Mutex::new(
        fs_err::File::create(&log_path).map_err(RunError::io(&log_path))?,
    ));

    let python_path = match std::env::var_os("PYTHONPATH") {
        Some(existing) if !existing.is_empty() && execution.container.is_none() => {
            let mut joined = module.clone().into_os_string();
            joined.push(":");
            joined.push(existing);
            joined
        }
        _ => module.clone().into_os_string(),
    };
    let mut variables: Vec<(std::ffi::OsString, std::ffi::OsString)> = execution
        .environment
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    variables.extend([
        ("PYTHONUNBUFFERED".into(), "1".into()),
        ("STRATA_RUN_ID".into(), run.id.clone().into()),
        ("STRATA_EXPERIMENT".into(), run.experiment.clone().into()),
        ("STRATA_WORKSPACE".into(), workspace.root().into()),
        ("STRATA_METRICS_FILE".into(), dir.join(METRICS_FILE).into()),
        ("PYTHONPATH".into(), python_path),
    ]);
    let mut command = match execution.container {
        None => {
            let mut command = Command::new(execution.python);
            command.envs(variables);
            command
        }
        Some(container) => {
            let mut command = Command::new(&container.podman);
            command
                .args(["run", "--rm", "--init", "--network", "host", "--name"])
                .arg(&container.name)
                .arg("--volume")
                .arg(bind(&dir, false))
                // The workspace holds the `strata` module and the models the script may read.
                .arg("--volume")
                .arg(bind(workspace.root(), true))
                .arg("--workdir")
                .arg(&dir);
            for (key, value) in variables {
                let mut pair = key;
                pair.push("=");
                pair.push(value);
                command.arg("--env").arg(pair);
            }
            command.arg(&container.image).arg(execution.python);
            command
        }
    };
    command
        .arg(&run.script)
        .args(&run.arguments)
        .current_dir(&dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    // Registered before the script starts, so a Ctrl-C at any moment cancels it.
    let interrupted = Arc::new(AtomicBool::new(false));
    let mut hooks = Vec::new();
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        if let Ok(id) = signal_hook::flag::register(signal, Arc::clone(&interrupted)) {
            hooks.push(id);
        }
    }
    let result = supervise(workspace, execution, &mut command, &log, &interrupted, &dir);
    // A script that ended by itself took its container with it (`--rm`); a canceled one may
    // have had its podman client killed, and that leaves the container running.
    let ended_by_itself = result
        .as_ref()
        .is_ok_and(|o| o.status != CANCELED && o.exit_code.is_some());
    if let Some(container) = execution.container.filter(|_| !ended_by_itself) {
        let _ = Command::new(&container.podman)
            .args(["rm", "--force", "--ignore", "--time", "0"])
            .arg(&container.name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    for id in hooks {
        signal_hook::low_level::unregister(id);
    }
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => Outcome {
            status: FAILED,
            exit_code: None,
            error: Some(error.to_string()),
        },
    };
    finish(workspace, run, &outcome)?;
    Ok(outcome)
}

fn supervise(
    workspace: &mut Workspace,
    execution: &Execution<'_>,
    command: &mut Command,
    log: &Arc<Mutex<fs_err::File>>,
    interrupted: &Arc<AtomicBool>,
    dir: &Path,
) -> Result<Outcome, RunError> {
    let run = execution.run;
    tracing::debug!(
        "run {}: {} {:?}",
        run.id,
        command.get_program().to_string_lossy(),
        command.get_args().collect::<Vec<_>>()
    );
    let mut child = command.spawn().map_err(|source| RunError::Spawn {
        program: execution.python.to_path_buf(),
        source,
    })?;
    let group = child.id();
    workspace.run_started(&run.id, group)?;
    let readers = [
        child
            .stdout
            .take()
            .map(|out| pump(out, Arc::clone(log), Arc::clone(&execution.sink), false)),
        child
            .stderr
            .take()
            .map(|err| pump(err, Arc::clone(log), Arc::clone(&execution.sink), true)),
    ];

    let mut canceled = false;
    let mut kill_at: Option<Instant> = None;
    let mut last_check = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(RunError::io(dir))? {
            break status;
        }
        if !canceled {
            let requested = last_check.elapsed() >= Duration::from_millis(250) && {
                last_check = Instant::now();
                workspace.get_run(&run.id).is_ok_and(|r| r.cancel_requested)
            };
            if interrupted.load(Ordering::Relaxed) || requested {
                canceled = true;
                signal_group(group, Signal::SIGTERM);
                kill_at = Some(Instant::now() + execution.grace);
            }
        } else if kill_at.is_some_and(|at| Instant::now() >= at) {
            signal_group(group, Signal::SIGKILL);
            kill_at = None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the script left running in its group goes with it, so the pipes close.
    signal_group(group, Signal::SIGKILL);
    for reader in readers.into_iter().flatten() {
        let _ = reader.join();
    }
    Ok(outcome_of(status, canceled))
}

fn outcome_of(status: std::process::ExitStatus, canceled: bool) -> Outcome {
    use std::os::unix::process::ExitStatusExt as _;
    if canceled {
        return Outcome {
            status: CANCELED,
            exit_code: status.code(),
            error: Some("Canceled".to_string()),
        };
    }
    match (status.code(), status.signal()) {
        (Some(0), _) => Outcome {
            status: COMPLETED,
            exit_code: Some(0),
            error: None,
        },
        (Some(code), _) => Outcome {
            status: FAILED,
            exit_code: Some(code),
            error: Some(format!("The script exited with code {code}")),
        },
        (None, signal) => Outcome {
            status: FAILED,
            exit_code: None,
            error: Some(format!(
                "The script was killed by signal {}",
                signal.unwrap_or(0)
            )),
        },
    }
}

/// `HOST:HOST[:ro]`: the same path inside the container.
fn bind(path: &Path, read_only: bool) -> std::ffi::OsString {
    let mut spec = path.as_os_str().to_os_string();
    spec.push(":");
    spec.push(path.as_os_str());
    if read_only {
        spec.push(":ro");
    }
    spec
}

/// Copies a pipe into the log and the sink, chunk by chunk as it arrives.
fn pump(
    mut pipe: impl Read + Send + 'static,
    log: Arc<Mutex<fs_err::File>>,
    sink: Arc<dyn OutputSink>,
    is_stderr: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    let bytes = &buffer[..read];
                    if let Ok(mut file) = log.lock() {
                        let _ = file.write_all(bytes);
                    }
                    if is_stderr {
                        sink.stderr(bytes);
                    } else {
                        sink.stdout(bytes);
                    }
                }
            }
        }
    })
}

/// Stores outputs, logs and metrics, and the final status. When they cannot be stored (a full
/// disk), the run still ends: `Failed`, with the script's exit code and why, and the error is
/// returned.
pub fn finish(
    workspace: &mut Workspace,
    run: &RunRecord,
    outcome: &Outcome,
) -> Result<(), RunError> {
    let dir = PathBuf::from(&run.run_dir);
    match store_results(workspace, run, &dir) {
        Ok((outputs, logs)) => workspace.run_finished(
            &run.id,
            outcome.status,
            outcome.exit_code.map(i64::from),
            outcome.error.as_deref(),
            Some(&outputs),
            Some(&logs),
        )?,
        Err(error) => {
            let mut reason = format!("Storing the run's results failed: {error}");
            let mut cause = std::error::Error::source(&error);
            while let Some(inner) = cause {
                reason.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            let message = match &outcome.error {
                Some(first) => format!("{first}; {reason}"),
                None => reason,
            };
            workspace.run_finished(
                &run.id,
                FAILED,
                outcome.exit_code.map(i64::from),
                Some(&message),
                None,
                None,
            )?;
            return Err(error);
        }
    }
    Ok(())
}

fn store_results(
    workspace: &mut Workspace,
    run: &RunRecord,
    dir: &Path,
) -> Result<(String, String), RunError> {
    let mut metrics: Vec<Metric> = Vec::new();
    for record in read_records(&dir.join(METRICS_FILE)) {
        match record {
            Record::Metric(metric) => metrics.push(metric),
            Record::Tag { key, value } => workspace.set_run_tag(&run.id, &key, value.as_deref())?,
        }
    }
    workspace.add_metrics(&run.id, &metrics)?;
    let outputs = workspace.store_dir(&dir.join("outputs"))?.0;
    let logs = workspace.store_dir(&dir.join("logs"))?.0;
    Ok((outputs, logs))
}
