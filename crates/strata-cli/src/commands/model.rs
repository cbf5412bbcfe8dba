//! `strata model ...`.

use std::path::Path;

use anyhow::Result;
use serde_json::json;
use strata_core::{ModelError, ModelSource, RegisteredModel};
use strata_store::format_time;
use strata_store::store::restore_stored_tree;

use crate::commands::Context;
use crate::commands::remote::Opened;
use crate::errors::UsageError;
use crate::{printer, table};

/// `strata model register --name N (--run ID --path outputs/P | --path LOCAL)`, on an
/// embedded or a server workspace.
pub(crate) fn register(
    context: &Context,
    name: &str,
    run_id: Option<&str>,
    path: &str,
    description: Option<String>,
    json: bool,
) -> Result<()> {
    let opened = context.open()?;
    let source = match run_id {
        Some(id) => ModelSource::Run { id, path },
        None => ModelSource::Local {
            path: Path::new(path),
        },
    };
    let registered = register_with(&opened, name, source, description)?;
    let record = &registered.record;
    if json {
        printer::json(record);
    } else {
        printer::out(format!(
            "Registered model {}:{} ({})",
            record.name,
            record.version,
            printer::count(registered.manifest.files.len(), "file")
        ));
    }
    Ok(())
}

/// [`strata_core::register_model`] on an opened workspace, with the CLI's errors.
pub(crate) fn register_with(
    opened: &Opened,
    name: &str,
    source: ModelSource<'_>,
    description: Option<String>,
) -> Result<RegisteredModel> {
    opened
        .block_on(strata_core::register_model(
            opened.records.as_ref(),
            opened.blobs.as_ref(),
            name,
            source,
            description,
        ))
        .map_err(|error| {
            let message = error.to_string();
            match error {
                ModelError::Store(error) => error.into(),
                ModelError::NoOutputs { id, .. } => UsageError::new(message)
                    .hint(format!("Wait for it to end: `strata runs wait {id}`"))
                    .into(),
                ModelError::NotUnderOutputs { outputs, .. }
                | ModelError::NotInRun { outputs, .. } => UsageError::new(message)
                    .hint(format!("Its outputs are: {}", output_list(&outputs)))
                    .into(),
                ModelError::Read { source, .. } => {
                    UsageError::new(format!("{message}: {source}")).into()
                }
                error @ ModelError::CorruptManifest { .. } => error.into(),
            }
        })
}

fn output_list(outputs: &[String]) -> String {
    if outputs.is_empty() {
        return "none (the script wrote nothing to outputs/)".to_string();
    }
    outputs.join(", ")
}

/// `NAME` or `NAME:VERSION` of a model.
pub(crate) fn parse(reference: &str) -> Result<(String, Option<u64>)> {
    match reference.rsplit_once(':') {
        Some((name, version)) => {
            let version = version.parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| UsageError::new(format!("Invalid model reference `{reference}`: the version is not a positive integer")))?;
            Ok((name.to_string(), Some(version)))
        }
        None => Ok((reference.to_string(), None)),
    }
}

/// `strata model list`.
pub(crate) fn list(context: &Context, all_versions: bool, json: bool) -> Result<()> {
    let models = context.open()?.models(all_versions)?;
    if json {
        printer::json(&models);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.version.to_string(),
                m.path.clone(),
                m.run_id.clone().unwrap_or_default(),
                m.env_name
                    .as_ref()
                    .map(|e| format!("{e}:{}", version_text(m.env_version.as_ref())))
                    .unwrap_or_default(),
                format_time(m.created_at),
            ]
        })
        .collect();
    printer::out(table::render(
        &["NAME", "VERSION", "PATH", "RUN", "ENVIRONMENT", "CREATED"],
        &rows,
    ));
    Ok(())
}

/// `strata model show NAME[:V]`.
pub(crate) fn show(context: &Context, reference: &str, json: bool) -> Result<()> {
    let (name, version) = parse(reference)?;
    let opened = context.open()?;
    let model = opened.block_on(opened.records.get_model(&name, version))?;
    let manifest = opened.read_manifest(&model.manifest)?;
    if json {
        printer::json(&json!({
            "model": model,
            "files": manifest.files.iter().map(|f| json!({"path": f.path, "bytes": f.size, "sha256": f.digest})).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    let mut rows = vec![
        ("Model", format!("{}:{}", model.name, model.version)),
        (
            "Files",
            manifest
                .files
                .iter()
                .map(|f| format!("{} ({} B)", f.path, f.size))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("Created", format_time(model.created_at)),
    ];
    if let Some(description) = &model.description {
        rows.push(("Description", description.clone()));
    }
    if let Some(run) = &model.run_id {
        rows.push((
            "Run",
            format!(
                "{run} (experiment {})",
                model.experiment.clone().unwrap_or_default()
            ),
        ));
    }
    if let Some(env) = &model.env_name {
        rows.push((
            "Environment",
            format!(
                "{env}:{}{}",
                version_text(model.env_version.as_ref()),
                model
                    .lock_hash
                    .as_deref()
                    .map(|h| format!(" (lock {})", strata_build::short(h)))
                    .unwrap_or_default()
            ),
        ));
    }
    printer::out(table::key_values(&rows));
    Ok(())
}

/// `strata model download NAME[:V] -d DIR`.
pub(crate) fn download(context: &Context, reference: &str, directory: &Path) -> Result<()> {
    let (name, version) = parse(reference)?;
    let opened = context.open()?;
    let model = opened.block_on(opened.records.get_model(&name, version))?;
    let workspace = trees_workspace(context)?;
    let count = opened.block_on(restore_stored_tree(
        &workspace,
        opened.blobs.as_ref(),
        &model.manifest,
        directory,
        Path::new(""),
    ))?;
    printer::out(format!(
        "Downloaded {} of model {}:{} to {}",
        printer::count(count, "file"),
        model.name,
        model.version,
        directory.display()
    ));
    Ok(())
}

/// Where a stored tree is restored from: a server workspace's working copy (its files fetched
/// there first), or the embedded workspace.
pub(crate) fn trees_workspace(context: &Context) -> Result<strata_store::Workspace> {
    match context.server_url() {
        Some(url) => crate::commands::run_remote::open_working_copy(url),
        None => context.open_workspace(),
    }
}

/// An environment version for display (`?` when a model's record has none).
pub(crate) fn version_text(version: Option<&strata_spec::EnvironmentVersion>) -> String {
    version.map_or_else(|| "?".to_string(), ToString::to_string)
}
