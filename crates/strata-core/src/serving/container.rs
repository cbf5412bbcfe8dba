//! Services in containers: the environment's image plus an app layer (the server, the scoring
//! code, the models and the server's configuration), run with podman.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest as _, Sha256};
use strata_build::Reporter;
use strata_image::{ImageSpec, LayerBuilder};
use strata_store::{
    DELETED, DEPLOYING, EnvironmentRecord, ImageRecord, ModelRecord, SERVICE_FAILED, ServiceRecord,
    Workspace,
};

use super::deploy::Deployment;
use super::process::watch_ready;
use super::{Result, ServingError};
use crate::images::{BaseOverride, ImagesError, Tool, ensure_env_image, load_into_podman, which};

/// Azure ML's scoring port inside the container.
const PORT: u16 = 5001;
const APP_ROOT: &str = "/var/azureml-app";
const SERVER: &str = "/opt/strata/bin/strata-serve";
const SERVER_CONFIG: &str = "/opt/strata/serve.json";
const PYTHON_DIR: &str = "/opt/strata/python";

/// A service's image, loaded into podman.
#[derive(Debug)]
pub struct ServiceImage {
    pub podman_name: String,
    pub lock_hash: Option<String>,
}

/// Builds (or finds) the image of a service laid out in `dir` (`app/`, `azureml-models/`).
pub fn service_image(
    workspace: &mut Workspace,
    environment: &EnvironmentRecord,
    dir: &Path,
    deployment: &Deployment,
    base: Option<String>,
    models: &[ModelRecord],
    reporter: &dyn Reporter,
) -> Result<ServiceImage, ImagesError> {
    let config = &deployment.config;
    if config.model_dir.is_some() {
        return Err(ImagesError::ModelDirInContainer);
    }
    let env_image = ensure_env_image(
        workspace,
        &environment.name,
        Some(&environment.version),
        &BaseOverride {
            base,
            base_archive: None,
        },
        reporter,
    )?;
    let store = &env_image.store;
    let _writer = store.writer()?;
    let env_stored =
        store
            .lookup(&env_image.reference)?
            .ok_or_else(|| ImagesError::NotInStore {
                reference: env_image.reference.clone(),
            })?;
    let server = server_binary()?;
    let model_dir = match models {
        [] => None,
        [model] => Some(PathBuf::from(format!(
            "{APP_ROOT}/azureml-models/{}/{}",
            model.name, model.version
        ))),
        _ => Some(PathBuf::from(format!("{APP_ROOT}/azureml-models"))),
    };
    let mut variables: std::collections::BTreeMap<String, String> = environment
        .environment
        .variables()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    variables.insert(
        "STRATA_ENVIRONMENT".to_string(),
        format!("{}:{}", environment.name, environment.version),
    );
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let memory_limit_bytes = config
        .memory_gb
        .map(|gb| (gb * 1024.0 * 1024.0 * 1024.0) as u64);
    let serve = strata_serve::ServeConfig {
        python: PathBuf::from(&env_image.python),
        environment: variables,
        app_root: PathBuf::from(format!("{APP_ROOT}/app")),
        entry_script: PathBuf::from(deployment.entry_script.file_name().unwrap_or_default()),
        source_directory: deployment
            .source_dir
            .as_deref()
            .and_then(Path::file_name)
            .map(PathBuf::from),
        model_dir,
        python_path: vec![PathBuf::from(PYTHON_DIR)],
        workers: config.workers.max(1),
        queue_capacity: 1024,
        request_timeout: Duration::from_millis(config.timeout_ms),
        max_body_bytes: deployment.max_body_mb * 1024 * 1024,
        memory_limit_bytes,
        server_version_header: config.server_version_header,
        cors_origins: config.cors_origins.clone(),
        // Only the scoring port is published from the container.
        health_port: None,
    };
    reporter.step("Writing the service layer");
    let mut layer = LayerBuilder::new();
    layer.add_dir(&dir.join("app"), &format!("{}/app", &APP_ROOT[1..]))?;
    let models_dir = dir.join("azureml-models");
    if models_dir.is_dir() {
        layer.add_dir(&models_dir, &format!("{}/azureml-models", &APP_ROOT[1..]))?;
    }
    layer.add_file(
        &format!("{}/strata/__init__.py", &PYTHON_DIR[1..]),
        strata_run::PYTHON_MODULE.as_bytes().to_vec(),
        0o644,
    );
    layer.add_host_file(&SERVER[1..], &server, 0o755);
    let serve_json = serde_json::to_value(&serve).map_err(ImagesError::ServerConfig)?;
    layer.add_file(
        &SERVER_CONFIG[1..],
        strata_image::canonical_json(&serve_json),
        0o644,
    );
    let layer = layer.write(store)?;
    let key = hex::encode(Sha256::digest(
        json!({"env": env_image.digest, "app": layer.descriptor.digest})
            .to_string()
            .as_bytes(),
    ));
    let reference = format!("strata/svc_{}", &key[..32]);
    let image = match store.lookup(&reference)? {
        Some(image) => image,
        None => {
            let spec = ImageSpec {
                layers: vec![layer],
                entrypoint: Some(vec![SERVER.to_string(), SERVER_CONFIG.to_string()]),
                cmd: Some(vec![format!("0.0.0.0:{PORT}")]),
                working_dir: Some(format!("{APP_ROOT}/app")),
                exposed_ports: vec![format!("{PORT}/tcp")],
                env: vec![("AML_APP_ROOT".to_string(), format!("{APP_ROOT}/app"))],
                labels: [(
                    "org.strata.environment-image".to_string(),
                    env_image.digest.clone(),
                )]
                .into_iter()
                .collect(),
                history_comment: "strata: service (server, scoring code, models)".to_string(),
                os: "linux".to_string(),
                architecture: "amd64".to_string(),
            };
            strata_image::assemble(store, Some(&env_stored), &spec, &reference)?;
            store
                .lookup(&reference)?
                .ok_or_else(|| ImagesError::NotInStore {
                    reference: reference.clone(),
                })?
        }
    };
    workspace.record_image(&ImageRecord {
        reference: reference.clone(),
        manifest_digest: image.manifest_descriptor.digest.clone(),
        kind: "service".to_string(),
        env_name: Some(environment.name.clone()),
        env_version: Some(environment.version.clone()),
        lock_hash: env_image.lock_hash.clone(),
        base_reference: Some(env_image.reference.clone()),
        base_digest: Some(env_image.digest.clone()),
        size: store.image_size(&image),
        created_at: 0,
    })?;
    reporter.step("Loading the service image into podman");
    let podman_name = load_into_podman(store.dir(), &reference)?;
    Ok(ServiceImage {
        podman_name,
        lock_hash: env_image.lock_hash,
    })
}

/// The server binary installed next to `strata` (or on PATH).
fn server_binary() -> Result<PathBuf, ImagesError> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("strata-serve")));
    beside
        .filter(|path| path.is_file())
        .or_else(|| which("strata-serve"))
        .ok_or(ImagesError::NoServerBinary)
}

/// podman's name for a service's container, unique per workspace.
fn container_name(workspace: &Workspace, service: &str) -> String {
    let root = workspace
        .root()
        .canonicalize()
        .unwrap_or_else(|_| workspace.root().to_path_buf());
    let hash = hex::encode(Sha256::digest(root.display().to_string().as_bytes()));
    format!("strata-svc-{}-{service}", &hash[..8])
}

/// `strata serve --service NAME` for a container service: runs the container attached (its
/// output is the service log), stops it gracefully on SIGTERM, and records how it ended.
pub(super) fn serve_container(
    workspace: Workspace,
    service: &ServiceRecord,
    image: &str,
) -> Result<()> {
    let podman = Tool::require("podman", "running a service in a container")?;
    let name = container_name(&workspace, &service.name);
    let _ = podman
        .command()
        .args(["rm", "--force", "--ignore", "--time", "0", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let pid = std::process::id();
    workspace.set_service_state(
        &service.name,
        DEPLOYING,
        Some((pid, strata_run::start_time(pid).unwrap_or_default())),
        None,
    )?;
    let host = service
        .host
        .parse()
        .map_err(|_| ServingError::InvalidHost {
            name: service.name.clone(),
            host: service.host.clone(),
        })?;
    let address = std::net::SocketAddr::new(host, service.port);
    let root = workspace.root().to_path_buf();
    drop(workspace);

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    let mut command = podman.command();
    command
        .args([
            "run",
            "--rm",
            "--init",
            "--sig-proxy=false",
            "--name",
            &name,
        ])
        // The server listens on the service's address itself, on the host network: no bridge,
        // NAT or port mapping to set up (the image's default, for `podman run -p`, is
        // 0.0.0.0:5001).
        .args(["--network", "host"])
        .arg(image)
        .arg(address.to_string())
        .stdin(Stdio::null());
    let mut child = command.spawn().map_err(|source| ImagesError::ToolStart {
        path: podman.path.clone(),
        source,
    })?;
    watch_ready(&root, &service.name, address, pid);
    let mut stopping = false;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|source| ServingError::Start { source })?
        {
            break status;
        }
        if stop.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            // podman sends SIGTERM (the server drains its workers), SIGKILL after 10 s.
            let _ = stop_container(&podman.path, &name);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let workspace = Workspace::open(&root)?;
    let current = workspace.get_service(&service.name)?;
    if current.state == DELETED {
        return Ok(());
    }
    if stopping || status.success() {
        workspace.set_service_state(&service.name, DELETED, None, None)?;
        return Ok(());
    }
    let error = format!("the container exited ({status})");
    workspace.set_service_state(&service.name, SERVICE_FAILED, None, Some(&error))?;
    Err(ServingError::ContainerExited {
        name: service.name.clone(),
        status: status.to_string(),
    })
}

/// Removes a container service's container if it outlived its supervisor (killed with
/// SIGKILL, say); a no-op for local services and for containers already gone.
pub fn remove_container(workspace: &Workspace, service: &ServiceRecord) {
    if service.config.container.is_none() {
        return;
    }
    let Some(podman) = which("podman") else {
        return;
    };
    let _ = Command::new(podman)
        .args(["rm", "--force", "--ignore", "--time", "10"])
        .arg(container_name(workspace, &service.name))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn stop_container(podman: &Path, name: &str) -> std::io::Result<std::process::ExitStatus> {
    Command::new(podman)
        .args(["stop", "--ignore", "--time", "10", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}
