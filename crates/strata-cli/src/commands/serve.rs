//! `strata deploy`, `strata serve` and `strata service ...`: a model behind HTTP in the
//! environment it was trained in, served by the Rust front end with Python workers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use strata_core::serving::{self, Deployment, Foreground, ServingError};
use strata_store::store::ServiceAddress;
use strata_store::{EnvironmentRecord, ServiceRecord};

use crate::cli::{ContainerOptions, ServingOptions};
use crate::commands::build::cli_error;
use crate::commands::image::images_error;
use crate::commands::serve_settings::{check_settings, config_of};
use crate::commands::{Context, parse_ref};
use crate::printer;
use crate::progress::TerminalReporter;

/// `strata deploy NAME ...`.
pub(crate) fn deploy(
    context: &Context,
    name: &str,
    args: &ServingOptions,
    container: &ContainerOptions,
    json: bool,
) -> Result<()> {
    // On a server workspace the service runs here, from the working copy, and is recorded
    // on the server (host, port, models, environment) for the team to see.
    let (record, environment) = match context.server_url() {
        Some(url) => {
            let remote = super::run_remote::RemoteRun::open(context, url)?;
            let mut workspace = remote.working_copy()?;
            remote.pull_for_serving(&mut workspace, &args.models, args.env.as_deref())?;
            drop(workspace);
            let deployed = deploy_service(&remote.local_context(context), name, args, container)?;
            let published = remote.publish_service(
                &remote.working_copy()?,
                name,
                args.advertise_host.as_deref(),
            )?;
            if !json {
                match &published.address {
                    ServiceAddress::Loopback(host) => printer::warn(format!(
                        "Service {name} listens on {host}, so only this machine reaches it; the server records it as loopback. Deploy with `--host 0.0.0.0` (or `--advertise-host`) for teammates to use it"
                    )),
                    _ => printer::note(format!(
                        "Recorded on the server at {}",
                        published.record.url()
                    )),
                }
            }
            deployed
        }
        None => deploy_service(context, name, args, container)?,
    };
    if json {
        printer::json(
            &json!({"service": record, "url": record.url(), "environment": {"name": environment.name, "version": environment.version}}),
        );
        return Ok(());
    }
    printer::note(format!(
        "Service {name} is running in {}:{}{}",
        environment.name,
        environment.version,
        match &record.config.container {
            Some(image) => format!(" (container of {image})"),
            None => String::new(),
        }
    ));
    printer::out(record.url());
    Ok(())
}

/// A serving use case's error as the CLI reports it: the log's end is shown first, and a
/// failed build, image or store error stays itself in the chain, so its hint is found.
pub(crate) fn serving_error(error: ServingError) -> anyhow::Error {
    match error {
        ServingError::Prepare(error) => cli_error(error),
        ServingError::Images(error) => images_error(error),
        ServingError::Store(error) => error.into(),
        ServingError::Serve(error) => error.into(),
        ServingError::Run(error) => error.into(),
        other => {
            if let ServingError::ExitedEarly { log_tail, .. }
            | ServingError::ReloadStopped { log_tail, .. } = &other
            {
                printer::error(log_tail.clone());
            }
            other.into()
        }
    }
}

/// `(name, version)` of each `--model NAME[:VERSION]`.
fn model_refs(args: &ServingOptions) -> Result<Vec<(String, Option<u64>)>> {
    args.models.iter().map(|m| super::model::parse(m)).collect()
}

/// Deploys and waits until the service is ready.
pub(crate) fn deploy_service(
    context: &Context,
    name: &str,
    args: &ServingOptions,
    container: &ContainerOptions,
) -> Result<(ServiceRecord, EnvironmentRecord)> {
    // Checked as given, so the message names the path the user wrote.
    serving::check_entry_script(&args.entry_script).map_err(serving_error)?;
    check_settings(args)?;
    let deployment = Deployment {
        name: name.to_string(),
        models: model_refs(args)?,
        env: args.env.as_deref().map(parse_ref).transpose()?,
        entry_script: absolute(context, &args.entry_script),
        source_dir: args.source_dir.as_ref().map(|d| absolute(context, d)),
        host: args.host,
        port: args.port,
        config: config_of(args)?,
        max_body_mb: args.max_body_mb,
        startup_timeout: Duration::from_secs(args.startup_timeout),
        container: container.container.then(|| container.base.clone()),
    };
    let root = context.open_workspace()?.root().to_path_buf();
    let exe = std::env::current_exe()?;
    let max_body_mb = args.max_body_mb.to_string();
    let launch = |root: &Path, service: &str| {
        let mut command = std::process::Command::new(&exe);
        command.arg("--workspace").arg(root).args([
            "serve",
            "--service",
            service,
            "--max-body-mb",
            &max_body_mb,
        ]);
        command
    };
    let reporter = TerminalReporter::new();
    serving::deploy(&root, &deployment, &launch, &reporter).map_err(serving_error)
}

pub(crate) fn absolute(context: &Context, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        context.cwd.join(path)
    }
}

/// `strata serve --service NAME`: the detached server of a deployment.
pub(crate) fn serve_service(context: &Context, name: &str, max_body_mb: usize) -> Result<()> {
    let root = context.open_workspace()?.root().to_path_buf();
    serving::serve_deployment(&root, name, max_body_mb).map_err(serving_error)
}

/// The server's log lines (each ends in a newline) go to stdout: the terminal for `serve`.
fn stdout_sink() -> strata_serve::LogSink {
    Arc::new(|lines: &str| printer::raw_stdout(lines.as_bytes()))
}

/// `strata serve --model M --entry-script score.py --env E`: in the foreground; Ctrl-C stops.
pub(crate) fn serve_foreground(context: &Context, args: &ServingOptions) -> Result<()> {
    // On a server workspace the models and environment are pulled into the working copy and
    // served from there, on this machine; a foreground server is not recorded (as `serve` is
    // not recorded locally either).
    if let Some(url) = context.server_url() {
        let remote = super::run_remote::RemoteRun::open(context, url)?;
        let mut workspace = remote.working_copy()?;
        remote.pull_for_serving(&mut workspace, &args.models, args.env.as_deref())?;
        drop(workspace);
        let local = remote.local_context(context);
        drop(remote);
        return serve_foreground(&local, args);
    }
    // Checked as given, so the message names the path the user wrote.
    serving::check_entry_script(&args.entry_script).map_err(serving_error)?;
    check_settings(args)?;
    let foreground = Foreground {
        models: model_refs(args)?,
        env: args.env.as_deref().map(parse_ref).transpose()?,
        entry_script: absolute(context, &args.entry_script),
        source_dir: args.source_dir.as_ref().map(|d| absolute(context, d)),
        config: config_of(args)?,
        max_body_mb: args.max_body_mb,
    };
    let root = context.open_workspace()?.root().to_path_buf();
    let reporter = TerminalReporter::new();
    let prepared =
        serving::prepare_foreground(&root, &foreground, &reporter).map_err(serving_error)?;
    drop(reporter);
    let address = SocketAddr::new(args.host, args.port);
    printer::note(format!(
        "Serving on http://{address}/score in {}:{}; Ctrl-C stops",
        prepared.built.record.name, prepared.built.record.version
    ));
    // `prepared` lives until the server stops: its lease keeps `cache gc` off the prefix.
    strata_serve::run(prepared.config.clone(), address, stdout_sink())?;
    drop(prepared);
    Ok(())
}
