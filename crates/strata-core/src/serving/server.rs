//! A deployment's server (`strata serve --service NAME`), a server in the foreground
//! (`strata serve --model ...`), and what `strata service` does to a running one.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata_build::Reporter;
use strata_spec::EnvironmentRef;
use strata_store::{
    DELETED, DEPLOYING, SERVICE_FAILED, SERVICE_RUNNING, ServiceConfig, ServiceModel,
    ServiceRecord, Workspace,
};

use super::container::{remove_container, serve_container};
use super::deploy::{check_entry_script, choose};
use super::layout::{copy_app, lay_out, model_dir};
use super::process::{stop, tail, watch_ready};
use super::{LOG, Result, ServingError, log};
use crate::{Built, activation_env, ensure_built};

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
    // One model: its version directory, as Azure ML sets it; several: the models root.
    let model_dir = match models {
        _ if config.model_dir.is_some() => config.model_dir.as_ref().map(PathBuf::from),
        [] => None,
        [model] => Some(model_dir(dir, &model.name, model.version)),
        _ => Some(dir.join("azureml-models")),
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let memory_limit_bytes = config
        .memory_gb
        .map(|gb| (gb * 1024.0 * 1024.0 * 1024.0) as u64);
    Ok(strata_serve::ServeConfig {
        python: built.prefix.python.clone(),
        environment: activation_env(built),
        app_root: dir.join("app"),
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

/// `strata serve --service NAME`: the detached server of a deployment, until it is stopped;
/// the record says how it ended.
pub fn serve_deployment(root: &Path, name: &str, max_body_mb: usize) -> Result<()> {
    let mut workspace = Workspace::open(root)?;
    let service = workspace.get_service(name)?;
    if let Some(image) = &service.config.container {
        return serve_container(workspace, &service, image);
    }
    // Lives until the server stops: its lease keeps `cache gc` off the workers' prefix.
    let built = ensure_built(
        &mut workspace,
        &service.env_name,
        Some(&service.env_version),
        &strata_build::SilentReporter,
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
    let host = service
        .host
        .parse()
        .map_err(|_| ServingError::InvalidHost {
            name: name.to_string(),
            host: service.host.clone(),
        })?;
    let address = SocketAddr::new(host, service.port);
    let log_path = dir.join(LOG);
    let log = log::sink(&log_path, log::MAX_BYTES).map_err(|source| ServingError::Io {
        path: log_path,
        source,
    })?;
    watch_ready(root, name, address, pid);
    drop(workspace);
    let result = strata_serve::run(config, address, log);
    let workspace = Workspace::open(root)?;
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

/// What `strata serve --model M --entry-script score.py` serves, in the foreground.
#[derive(Debug, Clone)]
pub struct Foreground {
    pub models: Vec<(String, Option<u64>)>,
    pub env: Option<EnvironmentRef>,
    /// Absolute.
    pub entry_script: PathBuf,
    pub source_dir: Option<PathBuf>,
    pub config: ServiceConfig,
    pub max_body_mb: usize,
}

/// A foreground server ready to run: its configuration, the prefix it runs in (leased while
/// this lives) and the directory it serves from (removed when this is dropped).
#[derive(Debug)]
pub struct PreparedServer {
    pub config: strata_serve::ServeConfig,
    pub built: Built,
    _dir: tempfile::TempDir,
}

/// Builds the environment, lays the models and scripts out in a temporary directory and
/// returns the server's configuration.
pub fn prepare_foreground(
    root: &Path,
    serving: &Foreground,
    reporter: &dyn Reporter,
) -> Result<PreparedServer> {
    check_entry_script(&serving.entry_script)?;
    let mut workspace = Workspace::open(root)?;
    let (record, models) = choose(
        &mut workspace,
        &serving.models,
        serving.env.as_ref(),
        reporter,
    )?;
    let built = ensure_built(
        &mut workspace,
        &record.name,
        Some(&record.version),
        reporter,
    )?;
    let dir = tempfile::Builder::new()
        .prefix("strata-serve-")
        .tempdir()
        .map_err(|source| ServingError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    lay_out(
        &workspace,
        dir.path(),
        (&serving.entry_script, serving.source_dir.as_deref()),
        &models,
    )?;
    let service_models: Vec<ServiceModel> = models
        .iter()
        .map(|m| ServiceModel {
            name: m.name.clone(),
            version: m.version,
        })
        .collect();
    let config = serve_config(
        &built,
        dir.path(),
        &workspace,
        (&serving.entry_script, serving.source_dir.as_deref()),
        &service_models,
        &serving.config,
        serving.max_body_mb,
    )?;
    Ok(PreparedServer {
        config,
        built,
        _dir: dir,
    })
}

/// The workspace's services; those whose server died are recorded failed first.
pub fn refreshed_services(workspace: &Workspace) -> Result<Vec<ServiceRecord>> {
    let mut services = workspace.list_services()?;
    for service in &mut services {
        if (service.state == SERVICE_RUNNING || service.state == DEPLOYING)
            && let Some(pid) = service.pid.and_then(|p| u32::try_from(p).ok())
            && !strata_run::is_alive(pid, service.pid_start.as_deref())
        {
            let error = "the server process is gone";
            workspace.set_service_state(&service.name, SERVICE_FAILED, None, Some(error))?;
            service.state = SERVICE_FAILED.to_string();
            service.error = Some(error.to_string());
        }
    }
    Ok(services)
}

/// Stops a service (gracefully), marks it deleted and removes its directory and container.
pub fn delete_service(workspace: &Workspace, name: &str) -> Result<ServiceRecord> {
    let service = workspace.get_service(name)?;
    workspace.set_service_state(name, DELETED, None, None)?;
    stop(&service);
    remove_container(workspace, &service);
    let _ = std::fs::remove_dir_all(&service.service_dir);
    Ok(service)
}

/// A service's log: what the rotated file holds, then the current file from the start; with
/// `follow`, what is written until the service ends. Each piece goes to `out` as it is read.
pub fn follow_log(
    workspace: &Workspace,
    name: &str,
    follow: bool,
    out: &mut dyn FnMut(&[u8]),
) -> Result<()> {
    let service = workspace.get_service(name)?;
    let path = PathBuf::from(&service.service_dir).join(LOG);
    if let Ok(older) = std::fs::read(log::rotated(&path)) {
        out(&older);
    }
    let mut offset = 0;
    loop {
        // A rotation started a new file.
        if std::fs::metadata(&path).is_ok_and(|metadata| metadata.len() < offset) {
            offset = 0;
        }
        let bytes = read_from(&path, offset);
        if !bytes.is_empty() {
            out(&bytes);
            offset += bytes.len() as u64;
        }
        if !follow {
            return Ok(());
        }
        let current = workspace.get_service(name)?;
        if current.state == DELETED || current.state == SERVICE_FAILED {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What a file holds past `offset` (nothing when it cannot be read).
fn read_from(path: &Path, offset: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path)
        && file.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = file.read_to_end(&mut bytes);
    }
    bytes
}

/// `strata service reload NAME`: fresh copies of the script and source, and the workers
/// restarted without a rebuild. With `wait`, returns once the server says the last new worker
/// is ready (or why the reload stopped).
pub fn reload_service(workspace: &Workspace, name: &str, wait: bool) -> Result<()> {
    let service = workspace.get_service(name)?;
    if service.config.container.is_some() {
        return Err(ServingError::ReloadContainer {
            name: name.to_string(),
        });
    }
    let Some(pid) = service
        .pid
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| strata_run::is_alive(*p, service.pid_start.as_deref()))
    else {
        return Err(ServingError::NotRunning {
            name: name.to_string(),
            state: service.state.clone(),
        });
    };
    copy_app(
        Path::new(&service.service_dir),
        Path::new(&service.entry_script),
        service.source_dir.as_deref().map(Path::new),
    )?;
    let log_path = Path::new(&service.service_dir).join(LOG);
    let offset = std::fs::metadata(&log_path).map_or(0, |m| m.len());
    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGHUP).map_err(|source| {
        ServingError::Signal {
            name: name.to_string(),
            source,
        }
    })?;
    if !wait {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let text = String::from_utf8_lossy(&read_from(&log_path, offset)).into_owned();
        if text.contains(strata_serve::RELOADED) {
            return Ok(());
        }
        if text.contains(strata_serve::RELOAD_STOPPED) {
            return Err(ServingError::ReloadStopped {
                name: name.to_string(),
                log_tail: tail(&text, 30),
            });
        }
        if Instant::now() >= deadline || !strata_run::is_alive(pid, service.pid_start.as_deref()) {
            return Err(ServingError::ReloadUnfinished {
                name: name.to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
