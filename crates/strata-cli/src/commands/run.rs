//! `strata run`: the run queued ([`strata_core::runs::submit`]), then supervised in this
//! process or by a detached one, and its end rendered.

use std::os::unix::process::CommandExt as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use strata_build::Cache;
use strata_compute::{JobInfo, Progress};
use strata_core::runs::{
    self, Reporting, RunEnvironment, RunsError, Submission, Submitted, Supervision,
};
use strata_run::{NoSink, OutputSink, SnapshotLimits};
use strata_store::{CANCELED, COMPLETED, Workspace};

use crate::cli::RunArgs;
use crate::commands::build::cli_error;
use crate::commands::compute::to_resources;
use crate::commands::image::images_error;
use crate::commands::run_remote::RemoteRun;
use crate::commands::{Context, parse_ref};
use crate::errors::{ExitWith, UsageError};
use crate::printer;
use crate::progress::TerminalReporter;

pub(crate) use strata_core::runs::run_id;

/// A run use case's error as the CLI reports it: a failed build, image or store error stays
/// itself in the chain, so its hint is found.
pub(crate) fn runs_error(error: RunsError) -> anyhow::Error {
    match error {
        RunsError::Prepare(error) => cli_error(error),
        RunsError::Images(error) => images_error(error),
        RunsError::Store(error) => error.into(),
        RunsError::Run(error) => error.into(),
        RunsError::Compute(error) => error.into(),
        RunsError::Spec(error) => error.into(),
        other => other.into(),
    }
}

/// `strata run ...`.
pub(crate) fn run(context: &Context, args: &RunArgs) -> Result<()> {
    let remote = match context.server_url() {
        Some(url) => Some(RemoteRun::open(context, url)?),
        None => None,
    };
    let mut workspace = match &remote {
        Some(remote) => remote.working_copy()?,
        None => context.open_workspace()?,
    };
    let source = if args.source_dir.is_relative() {
        context.cwd.join(&args.source_dir)
    } else {
        args.source_dir.clone()
    };
    let submission = Submission {
        experiment: args.experiment.clone(),
        environment: run_environment(args)?,
        target: args.target.clone(),
        resources: to_resources(&args.resources),
        source: source.canonicalize().unwrap_or(source),
        script: args.script.clone(),
        arguments: args.arguments.clone(),
        limits: SnapshotLimits {
            max_bytes: args.snapshot_max_mb * 1024 * 1024,
            max_files: args.snapshot_max_files,
        },
    };
    let reporter = TerminalReporter::new();
    let cache = Cache::from_env();
    let submitted = match &remote {
        Some(remote) => remote.block_on(runs::submit(
            &mut workspace,
            Some(remote.shared()),
            &submission,
            &cache,
            &reporter,
        )),
        None => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()?
            .block_on(runs::submit(
                &mut workspace,
                None,
                &submission,
                &cache,
                &reporter,
            )),
    };
    drop(reporter);
    let Submitted {
        run,
        unrecorded_build,
    } = submitted.map_err(runs_error)?;
    if let Some(error) = unrecorded_build {
        printer::warn(format!(
            "The build of {}:{} is not recorded on the server ({error}); it is usable here",
            run.env_name, run.env_version
        ));
    }
    let id = run.id.clone();
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
    let grace = Duration::from_secs(args.grace);
    let outcome = match &remote {
        Some(remote) => supervise(&mut workspace, &id, sink, grace, Some(remote.reporting()))?,
        None => supervise(&mut workspace, &id, sink, grace, None)?,
    };
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

/// `strata runs supervise ID`: the detached supervisor.
pub(crate) fn supervise_detached(context: &Context, id: &str, grace: u64) -> Result<()> {
    let mut workspace = context.open_workspace()?;
    supervise(
        &mut workspace,
        id,
        Arc::new(NoSink),
        Duration::from_secs(grace),
        None,
    )?;
    Ok(())
}

/// Prepares (build, run directory) and executes a queued run, with progress on the terminal;
/// a run of a server workspace's working copy reports to the server meanwhile.
pub(crate) fn supervise(
    workspace: &mut Workspace,
    id: &str,
    sink: Arc<dyn OutputSink>,
    grace: Duration,
    reporting: Option<Reporting>,
) -> Result<strata_run::Outcome> {
    let reporter = TerminalReporter::new();
    let progress = NoteProgress {
        target: workspace.get_run(id)?.target,
    };
    let supervision = Supervision {
        sink,
        grace,
        reporter: &reporter,
        progress: &progress,
    };
    match reporting {
        Some(reporting) => runs::supervise_reporting(workspace, id, &supervision, reporting),
        None => runs::supervise(workspace, id, &supervision),
    }
    .map_err(runs_error)
}

/// The environment a run asks for, from its flags.
fn run_environment(args: &RunArgs) -> Result<RunEnvironment> {
    let packages = !args.pip_packages.is_empty() || !args.conda_packages.is_empty();
    if let Some(reference) = &args.env {
        if packages {
            return Err(UsageError::new("`--pip-package` and `--conda-package` make a new environment; they cannot change `--env`")
                .hint("Add packages to the registered environment with `strata env add-package`, or leave out `--env`")
                .into());
        }
        return Ok(RunEnvironment::Registered(parse_ref(reference)?));
    }
    if let Some(dir) = &args.env_dir {
        if packages {
            return Err(UsageError::new("`--pip-package` and `--conda-package` make a new environment; they cannot change `--env-dir`")
                .hint("Add the packages to the directory's conda_dependencies.yml, or leave out `--env-dir`")
                .into());
        }
        return Ok(RunEnvironment::Directory(dir.clone()));
    }
    if packages || args.requirements.is_some() || args.conda_file.is_some() {
        return Ok(RunEnvironment::Packages {
            requirements: args.requirements.clone(),
            conda_file: args.conda_file.clone(),
            pip: args.pip_packages.clone(),
            conda: args.conda_packages.clone(),
        });
    }
    Ok(RunEnvironment::Default)
}

/// A Slurm job's submission is noted on the terminal; its state changes go to the debug log.
struct NoteProgress {
    target: String,
}

impl Progress for NoteProgress {
    fn submitted(&self, job_id: &str) {
        printer::note(format!("Submitted Slurm job {job_id} to `{}`", self.target));
    }

    fn state(&self, info: &JobInfo) {
        tracing::debug!(
            "job state {} on {} ({})",
            info.state,
            info.node.as_deref().unwrap_or("-"),
            info.reason.as_deref().unwrap_or("-")
        );
    }
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
