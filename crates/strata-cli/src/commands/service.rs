//! `strata service ...`: the deployed services of a workspace — listing, inspecting, logs,
//! reloading and deleting.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;
use strata_store::{DELETED, DEPLOYING, SERVICE_FAILED, SERVICE_RUNNING, ServiceRecord, Workspace};

use crate::commands::Context;
use crate::commands::serve::{LOG, copy_app, stop, tail};
use crate::commands::service_log;
use crate::errors::UsageError;
use crate::{printer, table};

/// `strata service list`.
pub(crate) fn list(context: &Context, json: bool) -> Result<()> {
    let services = if context.server_url().is_some() {
        context.open()?.services()?
    } else {
        refreshed(&context.open_workspace()?)?
    };
    if json {
        let items: Vec<_> = services
            .iter()
            .map(|s| json!({"service": s, "url": s.url()}))
            .collect();
        printer::json(&items);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.state.clone(),
                s.url(),
                s.models
                    .iter()
                    .map(|m| format!("{}:{}", m.name, m.version))
                    .collect::<Vec<_>>()
                    .join(", "),
                format!("{}:{}", s.env_name, s.env_version),
            ]
        })
        .collect();
    printer::out(table::render(
        &["NAME", "STATE", "URL", "MODELS", "ENVIRONMENT"],
        &rows,
    ));
    Ok(())
}

/// Services whose server died are reported failed.
fn refreshed(workspace: &Workspace) -> Result<Vec<ServiceRecord>> {
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

/// `strata service show NAME`.
pub(crate) fn show(context: &Context, name: &str, json: bool) -> Result<()> {
    let opened = context.open()?;
    let service = if opened.is_remote() {
        opened.block_on(opened.records.get_service(name))?
    } else {
        refreshed(&context.open_workspace()?)?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| strata_store::StoreError::NotFound {
                what: format!("Service `{name}`"),
            })?
    };
    let lineage: Vec<serde_json::Value> = service
        .models
        .iter()
        .filter_map(|m| {
            opened
                .block_on(opened.records.get_model(&m.name, Some(m.version)))
                .ok()
        })
        .map(|m| json!({"model": format!("{}:{}", m.name, m.version), "run": m.run_id, "experiment": m.experiment, "trainedIn": m.env_name.as_ref().map(|e| format!("{e}:{}", super::model::version_text(m.env_version.as_ref())))}))
        .collect();
    if json {
        printer::json(&json!({"service": service, "url": service.url(), "lineage": lineage}));
        return Ok(());
    }
    let mut rows = vec![
        ("Service", service.name.clone()),
        ("State", service.state.clone()),
        ("URL", service.url()),
        (
            "Environment",
            format!(
                "{}:{}{}",
                service.env_name,
                service.env_version,
                service
                    .lock_hash
                    .as_deref()
                    .map(|h| format!(" (lock {})", strata_build::short(h)))
                    .unwrap_or_default()
            ),
        ),
        ("Workers", service.config.workers.to_string()),
        ("Entry script", service.entry_script.clone()),
    ];
    for item in &lineage {
        rows.push((
            "Model",
            format!(
                "{} from run {} (experiment {}), trained in {}",
                item["model"].as_str().unwrap_or_default(),
                item["run"].as_str().unwrap_or("-"),
                item["experiment"].as_str().unwrap_or("-"),
                item["trainedIn"].as_str().unwrap_or("-")
            ),
        ));
    }
    if let Some(error) = &service.error {
        rows.push(("Error", error.clone()));
    }
    printer::out(table::key_values(&rows));
    Ok(())
}

/// `strata service logs NAME [--follow]`.
pub(crate) fn logs(context: &Context, name: &str, follow: bool) -> Result<()> {
    let workspace = context.open_workspace()?;
    let service = workspace.get_service(name)?;
    let path = PathBuf::from(&service.service_dir).join(LOG);
    if let Ok(older) = fs_err::read(service_log::rotated(&path)) {
        printer::raw_stdout(&older);
    }
    let mut offset = 0;
    loop {
        // A rotation started a new file.
        if fs_err::metadata(&path).is_ok_and(|metadata| metadata.len() < offset) {
            offset = 0;
        }
        if let Ok(mut file) = fs_err::File::open(&path)
            && file.seek(SeekFrom::Start(offset)).is_ok()
        {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            printer::raw_stdout(&bytes);
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

/// `strata service reload NAME`: fresh copies of the script and source; workers restart
/// without a rebuild.
pub(crate) fn reload(context: &Context, name: &str, wait: bool) -> Result<()> {
    let workspace = context.open_workspace()?;
    let service = workspace.get_service(name)?;
    if service.config.container.is_some() {
        return Err(UsageError::new(format!(
            "Service `{name}` runs in a container image, which holds its scoring code; it cannot be reloaded in place"
        ))
        .hint("Deploy it again with `strata deploy --container`: only the changed app layer is rebuilt")
        .into());
    }
    let Some(pid) = service
        .pid
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| strata_run::is_alive(*p, service.pid_start.as_deref()))
    else {
        return Err(UsageError::new(format!(
            "Service `{name}` is not running ({})",
            service.state
        ))
        .hint("Deploy it again with `strata deploy`")
        .into());
    };
    copy_app(
        Path::new(&service.service_dir),
        Path::new(&service.entry_script),
        service.source_dir.as_deref().map(Path::new),
    )?;
    // The server logs when the last new worker finished init(), or why the reload stopped.
    let log_path = Path::new(&service.service_dir).join(LOG);
    let offset = fs_err::metadata(&log_path).map_or(0, |m| m.len());
    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGHUP)?;
    if !wait {
        printer::out(format!("Reloading {name}"));
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut text = String::new();
        if let Ok(mut file) = fs_err::File::open(&log_path)
            && file.seek(SeekFrom::Start(offset)).is_ok()
        {
            let _ = file.read_to_string(&mut text);
        }
        if text.contains(strata_serve::RELOADED) {
            break;
        }
        if text.contains(strata_serve::RELOAD_STOPPED) {
            printer::error(tail(&text, 30));
            return Err(UsageError::new(format!("Reloading `{name}` stopped: a new worker failed to start; the previous workers keep serving"))
                .hint(format!("Fix the script and reload again; the log: `strata service logs {name}`"))
                .into());
        }
        if Instant::now() >= deadline || !strata_run::is_alive(pid, service.pid_start.as_deref()) {
            return Err(
                UsageError::new(format!("Service `{name}` did not finish reloading"))
                    .hint(format!("See `strata service logs {name}`"))
                    .into(),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    printer::out(format!("Reloaded {name}"));
    Ok(())
}

/// `strata service delete NAME`.
pub(crate) fn delete(context: &Context, name: &str) -> Result<()> {
    if let Some(url) = context.server_url() {
        let remote = super::run_remote::RemoteRun::open(context, url)?;
        let local = remote.local_context(context);
        if remote.working_copy()?.get_service(name).is_err() {
            return Err(UsageError::new(format!(
                "Service `{name}` was not deployed from this machine"
            ))
            .hint(
                "Delete it on the machine that deployed it (`strata service show` names its host)",
            )
            .into());
        }
        // The deletion keeps the host the deployment recorded (perhaps advertised).
        let host = remote.recorded_host(name);
        delete(&local, name)?;
        remote.publish_service(&remote.working_copy()?, name, host.as_deref())?;
        return Ok(());
    }
    let service = delete_service(context, name)?;
    printer::out(format!("Deleted {name}; port {} is free", service.port));
    Ok(())
}

/// Stops a service (graceful), marks it deleted and removes its directory.
pub(crate) fn delete_service(context: &Context, name: &str) -> Result<ServiceRecord> {
    let workspace = context.open_workspace()?;
    let service = workspace.get_service(name)?;
    workspace.set_service_state(name, DELETED, None, None)?;
    stop(&service);
    super::image::container::remove_container(&workspace, &service);
    let _ = fs_err::remove_dir_all(&service.service_dir);
    Ok(service)
}
