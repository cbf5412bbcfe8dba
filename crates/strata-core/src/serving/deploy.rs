//! `strata deploy`: a model behind HTTP in the environment it was trained in, its server
//! started detached and waited for until it answers.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_build::Reporter;
use strata_spec::{EnvironmentDiff, EnvironmentRef};
use strata_store::{
    DEPLOYING, EnvironmentRecord, ModelRecord, SERVICE_FAILED, SERVICE_RUNNING, ServiceConfig,
    ServiceModel, ServiceRecord, Workspace,
};

use super::container::{remove_container, service_image};
use super::layout::lay_out;
use super::process::{ready, stop, tail};
use super::{LOG, Result, ServingError, log};
use crate::ensure_built;

/// What to serve, where and how.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub name: String,
    /// `(name, version)`; the latest version when none is given.
    pub models: Vec<(String, Option<u64>)>,
    /// The environment; by default the one the first model was trained in.
    pub env: Option<EnvironmentRef>,
    /// Absolute.
    pub entry_script: PathBuf,
    /// Absolute.
    pub source_dir: Option<PathBuf>,
    pub host: IpAddr,
    pub port: u16,
    pub config: ServiceConfig,
    /// The largest request body the server takes.
    pub max_body_mb: usize,
    pub startup_timeout: Duration,
    /// In a podman container of the environment's image, on this base (`None`: the
    /// definition's).
    pub container: Option<Option<String>>,
}

/// Runs a deployment's server: the command that serves `service` of the workspace at `root`
/// (the binary's `serve --service NAME`).
pub type Launcher<'a> = &'a dyn Fn(&Path, &str) -> Command;

/// The entry script is any `.py` file, as azmlinfsrv loads it (by path, so `score-numpy.py` is
/// fine too); only the v1 SDK's `InferenceConfig` wanted a module name.
pub fn check_entry_script(path: &Path) -> Result<()> {
    if path.extension().is_none_or(|extension| extension != "py") {
        return Err(ServingError::EntryScriptNotPython {
            path: path.to_path_buf(),
        });
    }
    if !path.is_file() {
        return Err(ServingError::EntryScriptMissing {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Deploys and waits until the service answers on its port; a redeployment replaces the
/// running server. Returns the record (running) and the environment serving it.
pub fn deploy(
    root: &Path,
    deployment: &Deployment,
    launch: Launcher<'_>,
    reporter: &dyn Reporter,
) -> Result<(ServiceRecord, EnvironmentRecord)> {
    let name = &deployment.name;
    check_entry_script(&deployment.entry_script)?;
    strata_store::validate_model_name(name)
        .map_err(|_| ServingError::InvalidName { name: name.clone() })?;
    let mut workspace = Workspace::open(root)?;
    let (environment, models) = choose(
        &mut workspace,
        &deployment.models,
        deployment.env.as_ref(),
        reporter,
    )?;
    let mut lock_hash = match deployment.container {
        Some(_) => None,
        None => {
            let built = ensure_built(
                &mut workspace,
                &environment.name,
                Some(&environment.version),
                reporter,
            )?;
            Some(built.lock.lock_hash)
        }
    };
    let dir = workspace.root().join("services").join(name);
    if let Ok(existing) = workspace.get_service(name) {
        stop(&existing);
        remove_container(&workspace, &existing);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|source| ServingError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    // Readiness is checked on the port: it must not answer for another server.
    if let Err(source) = std::net::TcpListener::bind((deployment.host, deployment.port)) {
        return Err(ServingError::PortTaken {
            host: deployment.host,
            port: deployment.port,
            source,
        });
    }
    lay_out(
        &workspace,
        &dir,
        (&deployment.entry_script, deployment.source_dir.as_deref()),
        &models,
    )?;
    let mut config = deployment.config.clone();
    if let Some(base) = &deployment.container {
        let image = service_image(
            &mut workspace,
            &environment,
            &dir,
            deployment,
            base.clone(),
            &models,
            reporter,
        )?;
        lock_hash = image.lock_hash;
        config.container = Some(image.podman_name);
    }
    let mut record = ServiceRecord {
        name: name.clone(),
        state: DEPLOYING.to_string(),
        host: deployment.host.to_string(),
        port: deployment.port,
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
        entry_script: deployment.entry_script.display().to_string(),
        source_dir: deployment
            .source_dir
            .as_ref()
            .map(|d| d.display().to_string()),
        service_dir: dir.display().to_string(),
        config,
        pid: None,
        pid_start: None,
        error: None,
        created_at: 0,
        updated_at: 0,
    };
    workspace.put_service(&record)?;
    drop(workspace);
    let pid = start_and_wait(root, deployment, &dir, launch)?;
    let workspace = Workspace::open(root)?;
    // Recorded here too, so the service reads `running` as soon as `deploy` returns.
    workspace.set_service_state(
        name,
        SERVICE_RUNNING,
        Some((pid, strata_run::start_time(pid).unwrap_or_default())),
        None,
    )?;
    record.state = SERVICE_RUNNING.to_string();
    Ok((record, environment))
}

/// Starts the detached server with its output in the service log, and waits until it answers;
/// a server that ends first or answers too late is recorded failed.
fn start_and_wait(
    root: &Path,
    deployment: &Deployment,
    dir: &Path,
    launch: Launcher<'_>,
) -> Result<u32> {
    let name = &deployment.name;
    let log_path = dir.join(LOG);
    let io = |source| ServingError::Io {
        path: log_path.clone(),
        source,
    };
    let log_file = std::fs::File::create(&log_path).map_err(io)?;
    let _ = std::fs::remove_file(log::rotated(&log_path));
    let mut command = launch(root, name);
    command
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(io)?)
        .stderr(log_file);
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .map_err(|source| ServingError::Start { source })?;
    let failed = |error: &str| -> Result<()> {
        Workspace::open(root)?.set_service_state(name, SERVICE_FAILED, None, Some(error))?;
        Ok(())
    };
    let deadline = Instant::now() + deployment.startup_timeout;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|source| ServingError::Start { source })?
        {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            failed(&format!("the server exited ({status}) before it was ready"))?;
            return Err(ServingError::ExitedEarly {
                name: name.clone(),
                status: status.to_string(),
                log_tail: tail(&text, 40),
            });
        }
        if ready(deployment.host, deployment.port) {
            return Ok(child.id());
        }
        if Instant::now() >= deadline {
            // SIGTERM lets the server stop its workers; SIGKILL only if it does not end.
            let server = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
            let _ = nix::sys::signal::kill(server, nix::sys::signal::Signal::SIGTERM);
            let stop_by = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < stop_by {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            failed("not ready in time")?;
            return Err(ServingError::NotReady {
                name: name.clone(),
                seconds: deployment.startup_timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The models and the environment to serve them in, warning when it is not the one they were
/// trained in.
pub(super) fn choose(
    workspace: &mut Workspace,
    wanted: &[(String, Option<u64>)],
    env: Option<&EnvironmentRef>,
    reporter: &dyn Reporter,
) -> Result<(EnvironmentRecord, Vec<ModelRecord>)> {
    let mut models = Vec::new();
    for (name, version) in wanted {
        models.push(workspace.get_model(name, *version)?);
    }
    let record = match (env, models.first()) {
        (Some(reference), _) => {
            workspace.get_environment(&reference.name, reference.version.as_ref())?
        }
        (None, Some(model)) if model.env_name.is_some() => workspace.get_environment(
            model.env_name.as_deref().unwrap_or_default(),
            model.env_version.as_ref(),
        )?,
        _ => return Err(ServingError::NoEnvironment),
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
            reporter.warn(&format!(
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
