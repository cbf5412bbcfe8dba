//! `strata service ...`: the deployed services of a workspace — listing, inspecting, logs,
//! reloading and deleting.

use anyhow::Result;
use serde_json::json;
use strata_core::serving;
use strata_store::ServiceRecord;

use crate::commands::Context;
use crate::commands::serve::serving_error;
use crate::errors::UsageError;
use crate::{printer, table};

/// `strata service list`.
pub(crate) fn list(context: &Context, json: bool) -> Result<()> {
    let services = if context.server_url().is_some() {
        context.open()?.services()?
    } else {
        serving::refreshed_services(&context.open_workspace()?).map_err(serving_error)?
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

/// `strata service show NAME`.
pub(crate) fn show(context: &Context, name: &str, json: bool) -> Result<()> {
    let opened = context.open()?;
    let service = if opened.is_remote() {
        opened.block_on(opened.records.get_service(name))?
    } else {
        serving::refreshed_services(&context.open_workspace()?)
            .map_err(serving_error)?
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
    let workspace = deployed_here(context, name)?.open_workspace()?;
    serving::follow_log(&workspace, name, follow, &mut |bytes| {
        printer::raw_stdout(bytes)
    })
    .map_err(serving_error)
}

/// `strata service reload NAME`: fresh copies of the script and source; workers restart
/// without a rebuild.
pub(crate) fn reload(context: &Context, name: &str, wait: bool) -> Result<()> {
    let workspace = deployed_here(context, name)?.open_workspace()?;
    serving::reload_service(&workspace, name, wait).map_err(serving_error)?;
    printer::out(format!(
        "{} {name}",
        if wait { "Reloaded" } else { "Reloading" }
    ));
    Ok(())
}

/// `strata service delete NAME`.
pub(crate) fn delete(context: &Context, name: &str) -> Result<()> {
    if let Some(url) = context.server_url() {
        let local = deployed_here(context, name)?;
        let remote = super::run_remote::RemoteRun::open(context, url)?;
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

/// Where service `name` runs: the embedded workspace, or for a server workspace the working
/// copy of this machine when it deployed the service (its process, log and directory are
/// here); a service deployed elsewhere is refused, naming the host it runs on.
fn deployed_here(context: &Context, name: &str) -> Result<Context> {
    let Some(url) = context.server_url() else {
        return Ok(context.clone());
    };
    let remote = super::run_remote::RemoteRun::open(context, url)?;
    if remote.working_copy()?.get_service(name).is_ok() {
        return Ok(remote.local_context(context));
    }
    let host = remote
        .recorded_host(name)
        .ok_or_else(|| strata_store::StoreError::NotFound {
            what: format!("Service `{name}`"),
        })?;
    Err(UsageError::new(format!(
        "Service `{name}` was deployed from another machine (`{host}`)"
    ))
    .hint(format!(
        "Its process, log and files are there: run this command on `{host}`, or reach it at its URL (`strata service show {name}`)"
    ))
    .into())
}

/// Stops a service (graceful), marks it deleted and removes its directory.
pub(crate) fn delete_service(context: &Context, name: &str) -> Result<ServiceRecord> {
    serving::delete_service(&context.open_workspace()?, name).map_err(serving_error)
}
