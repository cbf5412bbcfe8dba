//! `strata deploy`, `strata serve` and `strata service ...`: a model behind HTTP in the
//! environment it was trained in, served by the Rust front end with Python workers.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde_json::json;
use strata_spec::EnvironmentDiff;
use strata_store::store::ServiceAddress;
use strata_store::{
    DELETED, DEPLOYING, EnvironmentRecord, SERVICE_FAILED, SERVICE_RUNNING, ServiceConfig,
    ServiceModel, ServiceRecord, Workspace,
};

use crate::cli::{ContainerOptions, ServingOptions};
use crate::commands::build::{Built, activation_env, ensure_built};
pub(crate) use crate::commands::serve_settings::config_of;
use crate::commands::serve_settings::{check_entry_script, check_settings};
use crate::commands::service_log;
use crate::commands::{Context, parse_ref};
use crate::errors::UsageError;
use crate::printer;
use crate::progress::TerminalReporter;

/// The file a service's server writes its log to, in the service directory.
pub(crate) const LOG: &str = "service.log";

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

/// Deploys and waits until the service is ready; the quickstart uses this too.
pub(crate) fn deploy_service(
    context: &Context,
    name: &str,
    args: &ServingOptions,
    container: &ContainerOptions,
) -> Result<(ServiceRecord, EnvironmentRecord)> {
    check_entry_script(&args.entry_script)?;
    check_settings(args)?;
    strata_store::validate_model_name(name).map_err(|_| UsageError::new(format!("Invalid service name `{name}`: use letters, digits, `-`, `.` and `_`, starting with a letter or digit")))?;
    let mut workspace = context.open_workspace()?;
    let (environment, models) = choose(&mut workspace, args)?;
    let reporter = TerminalReporter::new();
    let lock_hash = if container.container {
        None
    } else {
        let built = ensure_built(
            &mut workspace,
            &environment.name,
            Some(&environment.version),
            &reporter,
        )?;
        Some(built.lock.lock_hash)
    };
    let dir = workspace.root().join("services").join(name);
    // A redeployment replaces the running server.
    if let Ok(existing) = workspace.get_service(name) {
        stop(&existing);
        super::image::container::remove_container(&workspace, &existing);
    }
    if dir.exists() {
        fs_err::remove_dir_all(&dir)?;
    }
    // Readiness is checked on the port: it must not answer for another server.
    if let Err(error) = std::net::TcpListener::bind((args.host, args.port)) {
        return Err(UsageError::new(format!("Port {} on {} is not available: {error}", args.port, args.host))
            .hint("Pick another with `--port`, or delete the service that holds it (`strata service list`)")
            .into());
    }
    lay_out(&workspace, &dir, args, &models)?;
    let mut config = config_of(args)?;
    let mut lock_hash = lock_hash;
    if container.container {
        let image = super::image::container::service_image(
            &mut workspace,
            &environment,
            &dir,
            args,
            container.base.clone(),
            &models,
            &reporter,
        )?;
        lock_hash = image.lock_hash;
        config.container = Some(image.podman_name);
    }
    drop(reporter);
    let mut record = ServiceRecord {
        name: name.to_string(),
        state: DEPLOYING.to_string(),
        host: args.host.to_string(),
        port: args.port,
        env_name: environment.name.clone(),
        env_version: environment.version.clone(),
        lock_hash,
        models: models
            .iter()
            .map(|m| ServiceModel {
                name: m.name.clone(),
                version: m.version,
            })
            .collect(),
        entry_script: absolute(context, &args.entry_script).display().to_string(),
        source_dir: args
            .source_dir
            .as_ref()
            .map(|d| absolute(context, d).display().to_string()),
        service_dir: dir.display().to_string(),
        config,
        pid: None,
        pid_start: None,
        error: None,
        created_at: 0,
        updated_at: 0,
    };
    workspace.put_service(&record)?;
    let log = fs_err::File::create(dir.join(LOG))?;
    let _ = fs_err::remove_file(service_log::rotated(&dir.join(LOG)));
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .arg("--workspace")
        .arg(workspace.root())
        .args([
            "serve",
            "--service",
            name,
            "--max-body-mb",
            &args.max_body_mb.to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?.into_file())
        .stderr(log.into_file());
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .context("Failed to start the service's server")?;
    drop(workspace);
    let deadline = Instant::now() + Duration::from_secs(args.startup_timeout);
    loop {
        if let Some(status) = child.try_wait()? {
            let log = fs_err::read_to_string(dir.join(LOG)).unwrap_or_default();
            let workspace = context.open_workspace()?;
            let error = format!("the server exited ({status}) before it was ready");
            workspace.set_service_state(name, SERVICE_FAILED, None, Some(&error))?;
            printer::error(tail(&log, 40));
            return Err(
                UsageError::new(format!("Deploying `{name}` failed: {error}"))
                    .hint(format!(
                        "The log above is kept: `strata service logs {name}`"
                    ))
                    .into(),
            );
        }
        if ready(args.host, args.port) {
            // Recorded here too, so the service reads `running` as soon as `deploy` returns.
            let pid = child.id();
            let workspace = context.open_workspace()?;
            workspace.set_service_state(
                name,
                SERVICE_RUNNING,
                Some((pid, strata_run::start_time(pid).unwrap_or_default())),
                None,
            )?;
            break;
        }
        if Instant::now() >= deadline {
            // SIGTERM lets the server stop its workers; SIGKILL only if it does not end.
            let server = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
            let _ = nix::sys::signal::kill(server, nix::sys::signal::Signal::SIGTERM);
            let stop_by = Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() && Instant::now() < stop_by {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let workspace = context.open_workspace()?;
            workspace.set_service_state(name, SERVICE_FAILED, None, Some("not ready in time"))?;
            return Err(UsageError::new(format!(
                "`{name}` was not ready within {} s",
                args.startup_timeout
            ))
            .hint(format!("See `strata service logs {name}`"))
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    record.state = SERVICE_RUNNING.to_string();
    Ok((record, environment))
}

/// Builds the environment and checks the models; warns when a model was trained elsewhere.
fn prepare(
    workspace: &mut Workspace,
    args: &ServingOptions,
) -> Result<(Built, Vec<strata_store::ModelRecord>)> {
    let (record, models) = choose(workspace, args)?;
    let reporter = TerminalReporter::new();
    let built = ensure_built(workspace, &record.name, Some(&record.version), &reporter)?;
    Ok((built, models))
}

/// The models and the environment to serve them in (warning when it is not the one they were
/// trained in).
fn choose(
    workspace: &mut Workspace,
    args: &ServingOptions,
) -> Result<(EnvironmentRecord, Vec<strata_store::ModelRecord>)> {
    let mut models = Vec::new();
    for model in &args.models {
        let (name, version) = super::model::parse(model)?;
        models.push(workspace.get_model(&name, version)?);
    }
    // The environment the first model was trained in, unless another is named.
    let record = match (&args.env, models.first()) {
        (Some(env), _) => {
            let reference = parse_ref(env)?;
            workspace.get_environment(&reference.name, reference.version.as_ref())?
        }
        (None, Some(model)) if model.env_name.is_some() => workspace.get_environment(
            model.env_name.as_deref().unwrap_or_default(),
            model.env_version.as_ref(),
        )?,
        _ => {
            return Err(UsageError::new("Which environment should serve the model?")
                .hint("Pass `--env NAME[:VERSION]` (models registered from a run default to the run's environment)")
                .into());
        }
    };
    for model in &models {
        if let (Some(env_name), Some(env_version)) = (&model.env_name, &model.env_version)
            && (env_name != &record.name || env_version != &record.version)
        {
            let trained = workspace.get_environment(env_name, Some(env_version))?;
            let diff = EnvironmentDiff::between(&trained.environment, &record.environment);
            let changes: Vec<String> = diff
                .conda
                .iter()
                .chain(&diff.pip)
                .map(|c| {
                    format!(
                        "{}: {} -> {}",
                        c.key,
                        c.old.as_deref().unwrap_or("(none)"),
                        c.new.as_deref().unwrap_or("(none)")
                    )
                })
                .collect();
            printer::warn(format!(
                "Model `{}:{}` was trained in {env_name}:{env_version}, not {}:{}{}",
                model.name,
                model.version,
                record.name,
                record.version,
                if changes.is_empty() {
                    " (same packages)".to_string()
                } else {
                    format!("; package differences: {}", changes.join(", "))
                }
            ));
        }
    }
    Ok((record, models))
}

/// The service directory: `app/` (entry script and source directory) and
/// `azureml-models/<name>/<version>/...`, as Azure ML lays them out.
fn lay_out(
    workspace: &Workspace,
    dir: &Path,
    args: &ServingOptions,
    models: &[strata_store::ModelRecord],
) -> Result<()> {
    copy_app(dir, &args.entry_script, args.source_dir.as_deref())?;
    for model in models {
        let manifest = workspace.read_manifest(&model.manifest)?;
        let target = dir
            .join("azureml-models")
            .join(&model.name)
            .join(model.version.to_string());
        fs_err::create_dir_all(&target)?;
        workspace.restore_tree(&manifest, "", &target)?;
    }
    Ok(())
}

/// Fresh copies of the entry script and source directory into `dir/app` (also `reload`).
pub(crate) fn copy_app(dir: &Path, entry_script: &Path, source_dir: Option<&Path>) -> Result<()> {
    let app = dir.join("app");
    let staging = dir.join(format!(".app-{}", std::process::id()));
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    fs_err::create_dir_all(&staging)?;
    if let Some(source) = source_dir {
        copy_dir(
            source,
            &staging.join(source.file_name().unwrap_or_default()),
        )?;
    }
    let script_name = entry_script.file_name().unwrap_or_default();
    fs_err::copy(entry_script, staging.join(script_name)).with_context(|| {
        format!(
            "Failed to copy the entry script `{}`",
            entry_script.display()
        )
    })?;
    if app.exists() {
        fs_err::remove_dir_all(&app)?;
    }
    fs_err::rename(&staging, &app)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs_err::create_dir_all(to)?;
    for entry in fs_err::read_dir(from)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()))?;
        } else if entry.file_type()?.is_file() {
            fs_err::copy(&path, to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

pub(crate) fn absolute(context: &Context, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        context.cwd.join(path)
    }
}

/// `GET /health/ready` answers 200.
pub(crate) fn ready(host: IpAddr, port: u16) -> bool {
    let address = SocketAddr::new(
        if host.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            host
        },
        port,
    );
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream
        .write_all(b"GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = [0u8; 12];
    stream.read_exact(&mut response).is_ok() && response.starts_with(b"HTTP/1.1 200")
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Stops a service's server: SIGTERM (graceful: in-flight requests finish), SIGKILL after 30 s.
pub(crate) fn stop(service: &ServiceRecord) {
    let Some(pid) = service.pid.and_then(|p| u32::try_from(p).ok()) else {
        return;
    };
    if !strata_run::is_alive(pid, service.pid_start.as_deref()) {
        return;
    }
    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
    let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(30);
    while strata_run::is_alive(pid, service.pid_start.as_deref()) {
        if Instant::now() >= deadline {
            let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The server configuration of a service directory.
fn serve_config(
    built: &Built,
    dir: &Path,
    workspace: &Workspace,
    (entry_script, source_dir): (&Path, Option<&Path>),
    models: &[ServiceModel],
    config: &ServiceConfig,
    max_body_mb: usize,
) -> Result<strata_serve::ServeConfig> {
    let app = dir.join("app");
    // One model: its version directory, as Azure ML sets it; several: the models root.
    let model_dir = match models {
        _ if config.model_dir.is_some() => config.model_dir.as_ref().map(PathBuf::from),
        [] => None,
        [model] => Some(
            dir.join("azureml-models")
                .join(&model.name)
                .join(model.version.to_string()),
        ),
        _ => Some(dir.join("azureml-models")),
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let memory_limit_bytes = config
        .memory_gb
        .map(|gb| (gb * 1024.0 * 1024.0 * 1024.0) as u64);
    Ok(strata_serve::ServeConfig {
        python: built.prefix.python.clone(),
        environment: activation_env(built),
        app_root: app,
        entry_script: PathBuf::from(entry_script.file_name().unwrap_or_default()),
        source_directory: source_dir.and_then(|s| s.file_name()).map(PathBuf::from),
        model_dir,
        python_path: vec![strata_run::python_module_dir(workspace)?],
        workers: config.workers.max(1),
        queue_capacity: 1024,
        request_timeout: Duration::from_millis(config.timeout_ms),
        max_body_bytes: max_body_mb * 1024 * 1024,
        memory_limit_bytes,
        server_version_header: config.server_version_header,
        cors_origins: config.cors_origins.clone(),
        health_port: config.health_port,
    })
}

/// The deploying command watches readiness; the record says running once the port answers.
pub(crate) fn watch_ready(root: &Path, name: &str, address: SocketAddr, pid: u32) {
    let root = root.to_path_buf();
    let name = name.to_string();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if ready(address.ip(), address.port()) {
                if let Ok(workspace) = Workspace::open(&root) {
                    let _ = workspace.set_service_state(
                        &name,
                        SERVICE_RUNNING,
                        Some((pid, strata_run::start_time(pid).unwrap_or_default())),
                        None,
                    );
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

/// `strata serve --service NAME`: the detached server of a deployment.
pub(crate) fn serve_service(context: &Context, name: &str, max_body_mb: usize) -> Result<()> {
    let mut workspace = context.open_workspace()?;
    let service = workspace.get_service(name)?;
    if let Some(image) = &service.config.container {
        return super::image::container::serve_container(workspace, &service, image);
    }
    let reporter = strata_build::SilentReporter;
    // Lives until the server stops: its lease keeps `cache gc` off the workers' prefix.
    let built = ensure_built(
        &mut workspace,
        &service.env_name,
        Some(&service.env_version),
        &reporter,
    )?;
    let dir = PathBuf::from(&service.service_dir);
    let config = serve_config(
        &built,
        &dir,
        &workspace,
        (
            Path::new(&service.entry_script),
            service.source_dir.as_deref().map(Path::new),
        ),
        &service.models,
        &service.config,
        max_body_mb,
    )?;
    let pid = std::process::id();
    workspace.set_service_state(
        name,
        DEPLOYING,
        Some((pid, strata_run::start_time(pid).unwrap_or_default())),
        None,
    )?;
    let address = SocketAddr::new(service.host.parse()?, service.port);
    let log = service_log::sink(&dir.join(LOG), service_log::MAX_BYTES)?;
    let root = workspace.root().to_path_buf();
    watch_ready(&root, name, address, pid);
    drop(workspace);
    let result = strata_serve::run(config, address, log);
    let workspace = Workspace::open(&root)?;
    let current = workspace.get_service(name)?;
    if current.state == DELETED {
        return Ok(());
    }
    match result {
        Ok(()) => {
            workspace.set_service_state(name, DELETED, None, None)?;
            Ok(())
        }
        Err(error) => {
            workspace.set_service_state(name, SERVICE_FAILED, None, Some(&error.to_string()))?;
            Err(error.into())
        }
    }
}

/// The server's log lines (each ends in a newline) go to stdout: the terminal for `serve`,
/// the service log file for a deployment.
fn stdout_sink() -> strata_serve::LogSink {
    Arc::new(|lines: &str| printer::raw_stdout(lines.as_bytes()))
}

/// `strata serve --model M --entry-script score.py --env E`: in the foreground; Ctrl-C stops.
pub(crate) fn serve_foreground(context: &Context, args: &ServingOptions) -> Result<()> {
    check_entry_script(&args.entry_script)?;
    check_settings(args)?;
    let mut workspace = context.open_workspace()?;
    // Lives until the server stops: its lease keeps `cache gc` off the workers' prefix.
    let (built, models) = prepare(&mut workspace, args)?;
    let temp = tempfile::Builder::new().prefix("strata-serve-").tempdir()?;
    lay_out(&workspace, temp.path(), args, &models)?;
    let service_models: Vec<ServiceModel> = models
        .iter()
        .map(|m| ServiceModel {
            name: m.name.clone(),
            version: m.version,
        })
        .collect();
    let entry_script = absolute(context, &args.entry_script);
    let config = serve_config(
        &built,
        temp.path(),
        &workspace,
        (&entry_script, args.source_dir.as_deref()),
        &service_models,
        &config_of(args)?,
        args.max_body_mb,
    )?;
    drop(workspace);
    let address = SocketAddr::new(args.host, args.port);
    printer::note(format!(
        "Serving on http://{address}/score in {}:{}; Ctrl-C stops",
        built.record.name, built.record.version
    ));
    strata_serve::run(config, address, stdout_sink())?;
    Ok(())
}
