//! `strata run`: snapshot, register the environment, build it, run the script under
//! supervision (in this process, or detached).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use strata_build::Lease;
use strata_run::{
    ContainerLaunch, Execution, NoSink, OutputSink, SnapshotLimits, execute, plan_snapshot,
    prepare_run_dir, start_time,
};
use strata_spec::{
    CondaDependencies, DEFAULT_ENVIRONMENT, Environment, EnvironmentVersion, SpecHash, read_v1_dir,
};
use strata_store::{CANCELED, COMPLETED, FAILED, RegisterOptions, RunRecord, Workspace};

use crate::cli::{BaseArgs, RunArgs};
use crate::commands::build::{activation_env, ensure_built};
use crate::commands::image::ensure_env_image;
use crate::commands::image::tools::{Tool, load_into_podman};
use crate::commands::run_remote::RemoteRun;
use crate::commands::{Context, parse_ref};
use crate::errors::{ExitWith, UsageError};
use crate::printer;
use crate::progress::TerminalReporter;

/// `strata run ...`.
pub(crate) fn run(context: &Context, args: &RunArgs) -> Result<()> {
    let remote = match context.server_url() {
        Some(url) => Some(RemoteRun::open(context, url)?),
        None => None,
    };
    if remote.is_some() && args.target.as_deref().is_some_and(|t| t != "local") {
        return Err(UsageError::new(
            "Runs on a server workspace run on this machine so far, not on other targets",
        )
        .hint("Leave out `--target`, or run in an embedded workspace")
        .into());
    }
    let mut workspace = match &remote {
        Some(remote) => remote.working_copy()?,
        None => context.open_workspace()?,
    };
    let (env_name, env_version) = match &remote {
        Some(remote) => remote.environment(&mut workspace, args)?,
        None => environment(&mut workspace, args)?,
    };
    // An unknown target, or one whose scheduler does not answer, fails before anything runs.
    let (target, kind) = match &args.target {
        Some(name) => {
            let kind = crate::commands::compute::check_target(&workspace, name, &args.resources)?;
            (name.clone(), kind)
        }
        None => {
            crate::commands::compute::check_target(&workspace, "local", &args.resources)?;
            let record = workspace.get_environment(&env_name, Some(&env_version))?;
            let name = if record.environment.docker.enabled {
                "container"
            } else {
                "local"
            };
            (name.to_string(), name.to_string())
        }
    };
    let source = if args.source_dir.is_relative() {
        context.cwd.join(&args.source_dir)
    } else {
        args.source_dir.clone()
    };
    let source = source.canonicalize().unwrap_or(source);
    // Limits are checked before anything runs.
    let plan = plan_snapshot(
        &source,
        SnapshotLimits {
            max_bytes: args.snapshot_max_mb * 1024 * 1024,
            max_files: args.snapshot_max_files,
        },
    )?;
    let script = args.script.trim_start_matches("./").to_string();
    if !plan.files.iter().any(|f| f == Path::new(&script)) {
        return Err(strata_run::RunError::ScriptNotInSnapshot {
            script,
            source_dir: source,
        }
        .into());
    }
    if let Some(remote) = &remote {
        if target != "local" {
            return Err(UsageError::new(
                "Runs on a server workspace run on this machine's environments so far, not in containers",
            )
            .hint("Leave out `--target container`, or run in an embedded workspace")
            .into());
        }
        remote.share_lock(&mut workspace, (&env_name, &env_version))?;
    }
    let run = create_run(
        &mut workspace,
        &args.experiment,
        (env_name, env_version),
        &source,
        &plan.files,
        (script, args.arguments.clone()),
        &target,
    )?;
    if kind == "slurm" {
        crate::commands::compute::record_resources(&workspace, &run, &args.resources)?;
    }
    let id = run.id.clone();
    if let Some(remote) = &remote {
        remote.publish(&workspace, &run)?;
    }
    if args.detach {
        let exe = std::env::current_exe()?;
        let mut command = std::process::Command::new(exe);
        match &remote {
            Some(remote) => command.args(["runs", "supervise", &id, "--report-to", remote.url()]),
            None => {
                command
                    .arg("--workspace")
                    .arg(workspace.root())
                    .args(["runs", "supervise", &id])
            }
        };
        command
            .args(["--grace", &args.grace.to_string()])
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command.spawn()?;
        if args.json {
            printer::json(&serde_json::json!({"run": workspace.get_run(&id)?}));
            return Ok(());
        }
        printer::note(format!(
            "Submitted run {id} (experiment {}); follow it with `strata runs logs {id} --follow`",
            run.experiment
        ));
        printer::out(&id);
        return Ok(());
    }
    printer::note(format!(
        "Run {id} (experiment {}) in {}:{} on {}; Ctrl-C cancels it",
        run.experiment, run.env_name, run.env_version, run.target
    ));
    // With `--json` stdout carries only the JSON; the script's output goes to stderr.
    let sink: Arc<dyn OutputSink> = if args.json {
        Arc::new(StderrSink)
    } else {
        Arc::new(TerminalSink)
    };
    let reporter = remote.as_ref().map(|remote| remote.start_reporter(&id));
    let outcome = supervise(&mut workspace, &id, sink, Duration::from_secs(args.grace));
    if let Some(reporter) = reporter {
        reporter.finish()?;
    }
    let outcome = outcome?;
    let record = workspace.get_run(&id)?;
    if args.json {
        printer::json(&serde_json::json!({"run": record}));
    }
    let elapsed = match (record.started_at, record.finished_at) {
        (Some(start), Some(end)) => format!(" in {:.1} s", (end - start) as f64 / 1000.0),
        _ => String::new(),
    };
    printer::note(format!(
        "Run {id} {}{elapsed}{}; details: `strata runs show {id}`",
        outcome.status,
        outcome
            .error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    ));
    match outcome.status {
        COMPLETED => Ok(()),
        CANCELED => Err(ExitWith(130).into()),
        _ => Err(ExitWith(
            outcome
                .exit_code
                .and_then(|c| u8::try_from(c).ok())
                .filter(|c| *c != 0)
                .unwrap_or(1),
        )
        .into()),
    }
}

/// Stores the snapshot and records a queued run.
pub(crate) fn create_run(
    workspace: &mut Workspace,
    experiment: &str,
    (env_name, env_version): (String, EnvironmentVersion),
    source: &Path,
    files: &[std::path::PathBuf],
    (script, arguments): (String, Vec<String>),
    target: &str,
) -> Result<RunRecord> {
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

/// `strata runs supervise ID`: the detached supervisor.
pub(crate) fn supervise_detached(context: &Context, id: &str, grace: u64) -> Result<()> {
    let mut workspace = context.open_workspace()?;
    supervise(
        &mut workspace,
        id,
        Arc::new(NoSink),
        Duration::from_secs(grace),
    )?;
    Ok(())
}

/// Prepares (build, run directory) and executes a queued run.
pub(crate) fn supervise(
    workspace: &mut Workspace,
    id: &str,
    sink: Arc<dyn OutputSink>,
    grace: Duration,
) -> Result<strata_run::Outcome> {
    let pid = std::process::id();
    workspace.run_preparing(id, pid, &start_time(pid).unwrap_or_default())?;
    let run = workspace.get_run(id)?;
    if !matches!(run.target.as_str(), "local" | "container") {
        return crate::commands::compute::supervise_slurm(workspace, &run, sink);
    }
    let prepared = if run.target == "container" {
        prepare_container(workspace, &run)
    } else {
        prepare_local(workspace, &run)
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            workspace.run_finished(id, FAILED, None, Some(&format!("{error:#}")), None, None)?;
            return Err(error);
        }
    };
    workspace.run_prepared(id, &prepared.lock_hash)?;
    let run = workspace.get_run(id)?;
    prepare_run_dir(workspace, &run)?;
    if run.cancel_requested {
        let outcome = strata_run::Outcome {
            status: CANCELED,
            exit_code: None,
            error: Some("Canceled before it started".to_string()),
        };
        strata_run::finish(workspace, &run, &outcome)?;
        return Ok(outcome);
    }
    let outcome = execute(
        workspace,
        &Execution {
            run: &run,
            python: &prepared.python,
            container: prepared.container.as_ref(),
            environment: &prepared.environment,
            sink,
            grace,
        },
    )?;
    Ok(outcome)
}

/// What a run needs to start: the interpreter, its variables, and the container if any.
struct Prepared {
    python: PathBuf,
    environment: BTreeMap<String, String>,
    lock_hash: String,
    container: Option<ContainerLaunch>,
    /// Keeps `cache gc` off the prefix until the run has finished.
    _lease: Option<Arc<Lease>>,
}

fn prepare_local(workspace: &mut Workspace, run: &RunRecord) -> Result<Prepared> {
    let reporter = TerminalReporter::new();
    let built = ensure_built(workspace, &run.env_name, Some(&run.env_version), &reporter)?;
    drop(reporter);
    Ok(Prepared {
        python: built.prefix.python.clone(),
        environment: activation_env(&built),
        lock_hash: built.lock.lock_hash.clone(),
        container: None,
        _lease: built.prefix.lease.clone(),
    })
}

/// The environment's image (built when needed), loaded into podman.
fn prepare_container(workspace: &mut Workspace, run: &RunRecord) -> Result<Prepared> {
    let podman = Tool::require("podman", "running in a container")?;
    let reporter = TerminalReporter::new();
    let image = ensure_env_image(
        workspace,
        &run.env_name,
        Some(&run.env_version),
        &BaseArgs::default(),
        &reporter,
    )?;
    let name = load_into_podman(image.store.dir(), &image.reference)?;
    drop(reporter);
    workspace.set_run_image(&run.id, &format!("{}@{}", image.reference, image.digest))?;
    Ok(Prepared {
        python: PathBuf::from(&image.python),
        environment: image
            .record
            .environment
            .variables()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain([(
                "STRATA_ENVIRONMENT".to_string(),
                format!("{}:{}", image.record.name, image.record.version),
            )])
            .collect(),
        lock_hash: image.lock_hash.clone().unwrap_or_default(),
        container: Some(ContainerLaunch {
            podman: podman.path,
            image: name,
            name: format!("strata-run-{}", run.id),
        }),
        _lease: None,
    })
}

/// The environment a run uses: named, from a directory, anonymous, or the default.
fn environment(workspace: &mut Workspace, args: &RunArgs) -> Result<(String, EnvironmentVersion)> {
    if let Some(reference) = &args.env {
        if !args.pip_packages.is_empty() || !args.conda_packages.is_empty() {
            return Err(UsageError::new("`--pip-package` and `--conda-package` make a new environment; they cannot change `--env`")
                .hint("Add packages to the registered environment with `strata env add-package`, or leave out `--env`")
                .into());
        }
        let reference = parse_ref(reference)?;
        let record = workspace.get_environment(&reference.name, reference.version.as_ref())?;
        return Ok((record.name, record.version));
    }
    if let Some(dir) = &args.env_dir {
        if !args.pip_packages.is_empty() || !args.conda_packages.is_empty() {
            return Err(UsageError::new("`--pip-package` and `--conda-package` make a new environment; they cannot change `--env-dir`")
                .hint("Add the packages to the directory's conda_dependencies.yml, or leave out `--env-dir`")
                .into());
        }
        let parsed = read_v1_dir(dir)?;
        for warning in &parsed.warnings {
            printer::warn(warning);
        }
        let registration =
            workspace.register_environment(parsed.value, RegisterOptions::default())?;
        return Ok((registration.record.name, registration.record.version));
    }
    let anonymous = args.requirements.is_some()
        || args.conda_file.is_some()
        || !args.pip_packages.is_empty()
        || !args.conda_packages.is_empty();
    if !anonymous {
        let record = workspace.get_environment(DEFAULT_ENVIRONMENT, None)?;
        return Ok((record.name, record.version));
    }
    let mut environment = if let Some(file) = &args.requirements {
        let parsed = strata_spec::read_requirements_file(file)?;
        for warning in &parsed.warnings {
            printer::warn(warning);
        }
        Environment::from_pip_requirements("anonymous", parsed.value, None)
    } else if let Some(file) = &args.conda_file {
        let text = strata_spec::read_definition_file(file)?;
        let parsed = CondaDependencies::parse_with_warnings(&text, &file.display().to_string())?;
        let (environment, more) = Environment::from_conda_dependencies("anonymous", parsed.value);
        for warning in parsed.warnings.iter().chain(&more) {
            printer::warn(warning);
        }
        environment
    } else {
        Environment::from_pip_requirements("anonymous", Vec::new(), None)
    };
    for package in &args.conda_packages {
        environment.add_conda_package(package)?;
    }
    for package in &args.pip_packages {
        environment.add_pip_package(package)?;
    }
    // Anonymous environments are named by their content, as Azure ML names them by hash.
    environment.name = Some(format!(
        "anonymous-{}",
        &SpecHash::of(&environment).as_str()[..16]
    ));
    let registration =
        workspace.register_environment(environment, RegisterOptions { anonymous: true })?;
    Ok((registration.record.name, registration.record.version))
}

/// `<experiment>_<unix seconds>_<8 hex>`, as Azure ML names runs.
pub(crate) fn run_id(experiment: &str) -> String {
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

/// A foreground run's output goes to the terminal as it comes.
struct TerminalSink;

impl OutputSink for TerminalSink {
    fn stdout(&self, bytes: &[u8]) {
        printer::raw_stdout(bytes);
    }

    fn stderr(&self, bytes: &[u8]) {
        printer::raw_stderr(bytes);
    }
}

/// A `--json` foreground run's output goes to stderr, leaving stdout to the JSON.
struct StderrSink;

impl OutputSink for StderrSink {
    fn stdout(&self, bytes: &[u8]) {
        printer::raw_stderr(bytes);
    }

    fn stderr(&self, bytes: &[u8]) {
        printer::raw_stderr(bytes);
    }
}
