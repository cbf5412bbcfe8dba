//! `strata model ...`.

use std::path::Path;

use anyhow::Result;
use serde_json::json;
use strata_store::{Manifest, ManifestEntry, ModelRecord, Workspace, format_time};

use crate::commands::Context;
use crate::errors::UsageError;
use crate::{printer, table};

/// `strata model register --name N (--run ID --path outputs/P | --path LOCAL)`.
pub(crate) fn register(
    context: &Context,
    name: &str,
    run_id: Option<&str>,
    path: &str,
    description: Option<String>,
    json: bool,
) -> Result<()> {
    let mut workspace = context.open_workspace()?;
    strata_store::validate_model_name(name)?;
    let (manifest, lineage) = match run_id {
        Some(id) => from_run(&workspace, id, path)?,
        None => (from_local(&workspace, path)?, None),
    };
    let record = store_model(
        &mut workspace,
        name,
        &manifest,
        path,
        lineage.as_ref(),
        description,
    )?;
    if json {
        printer::json(&record);
    } else {
        printer::out(format!(
            "Registered model {}:{} ({})",
            record.name,
            record.version,
            printer::count(manifest.files.len(), "file")
        ));
    }
    Ok(())
}

/// Registers the next version of a model from a manifest, with the run's lineage.
pub(crate) fn store_model(
    workspace: &mut Workspace,
    name: &str,
    manifest: &Manifest,
    path: &str,
    lineage: Option<&strata_store::RunRecord>,
    description: Option<String>,
) -> Result<ModelRecord> {
    let bytes = serde_json::to_vec(manifest)?;
    let digest = workspace.blobs().put_bytes(&bytes)?;
    let base = Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
    Ok(workspace.register_model(ModelRecord {
        name: name.to_string(),
        version: 0,
        manifest: digest,
        path: base,
        description,
        run_id: lineage.map(|r| r.id.clone()),
        experiment: lineage.map(|r| r.experiment.clone()),
        // An interactive run ran in its caller's Python, not in an environment version.
        env_name: trained_in(lineage).map(|r| r.env_name.clone()),
        env_version: trained_in(lineage).map(|r| r.env_version.clone()),
        lock_hash: lineage.and_then(|r| r.lock_hash.clone()),
        created_at: 0,
    })?)
}

fn trained_in(lineage: Option<&strata_store::RunRecord>) -> Option<&strata_store::RunRecord> {
    lineage.filter(|r| r.target != crate::commands::interactive::INTERACTIVE)
}

/// The files under `path` of a finished run's outputs, re-rooted at the path's parent (so a
/// file keeps its name and a directory its tree).
pub(crate) fn from_run(
    workspace: &Workspace,
    id: &str,
    path: &str,
) -> Result<(Manifest, Option<strata_store::RunRecord>)> {
    let run = workspace.get_run(id)?;
    let Some(outputs) = &run.outputs else {
        return Err(
            UsageError::new(format!("Run `{id}` has no stored outputs ({})", run.status))
                .hint(format!("Wait for it to end: `strata runs wait {id}`"))
                .into(),
        );
    };
    let outputs = workspace.read_manifest(outputs)?;
    let relative = path.trim_start_matches("./").trim_end_matches('/');
    let Some(inside) = relative
        .strip_prefix("outputs/")
        .or_else(|| (relative == "outputs").then_some(""))
    else {
        return Err(
            UsageError::new(format!("`{path}` is not under the run's `outputs/`"))
                .hint(format!("Its outputs are: {}", output_list(&outputs)))
                .into(),
        );
    };
    let parent = Path::new(inside)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files: Vec<ManifestEntry> = outputs
        .files
        .iter()
        .filter(|f| {
            inside.is_empty() || f.path == inside || f.path.starts_with(&format!("{inside}/"))
        })
        .map(|f| ManifestEntry {
            path: f
                .path
                .strip_prefix(&format!("{parent}/"))
                .unwrap_or(&f.path)
                .to_string(),
            ..f.clone()
        })
        .collect();
    if files.is_empty() {
        return Err(UsageError::new(format!("Run `{id}` has no `{path}`"))
            .hint(format!("Its outputs are: {}", output_list(&outputs)))
            .into());
    }
    Ok((Manifest { files }, Some(run)))
}

fn output_list(outputs: &Manifest) -> String {
    if outputs.files.is_empty() {
        return "none (the script wrote nothing to outputs/)".to_string();
    }
    outputs
        .files
        .iter()
        .map(|f| format!("outputs/{}", f.path))
        .collect::<Vec<_>>()
        .join(", ")
}

fn from_local(workspace: &Workspace, path: &str) -> Result<Manifest> {
    let local = Path::new(path);
    let metadata = fs_err::metadata(local).map_err(|source| strata_spec::SpecError::Read {
        path: local.to_path_buf(),
        source,
    })?;
    let name = local
        .file_name()
        .map_or_else(|| "model".to_string(), |n| n.to_string_lossy().into_owned());
    let (_, manifest) = if metadata.is_dir() {
        workspace.store_dir(local)?
    } else {
        let parent = local
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        workspace.store_tree(parent, &[std::path::PathBuf::from(&name)])?
    };
    if metadata.is_dir() {
        let files = manifest
            .files
            .into_iter()
            .map(|f| ManifestEntry {
                path: format!("{name}/{}", f.path),
                ..f
            })
            .collect();
        return Ok(Manifest { files });
    }
    Ok(manifest)
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
    // A server workspace's trees are restored from its working copy, once fetched there.
    let (workspace, manifest) = match context.server_url() {
        Some(url) => {
            let workspace = crate::commands::run_remote::open_working_copy(url)?;
            let manifest = opened.fetch_tree(&workspace, &model.manifest)?;
            (workspace, manifest)
        }
        None => {
            let workspace = context.open_workspace()?;
            let manifest = workspace.read_manifest(&model.manifest)?;
            (workspace, manifest)
        }
    };
    fs_err::create_dir_all(directory)?;
    let count = workspace.restore_tree(&manifest, "", directory)?;
    printer::out(format!(
        "Downloaded {} of model {}:{} to {}",
        printer::count(count, "file"),
        model.name,
        model.version,
        directory.display()
    ));
    Ok(())
}

/// An environment version for display (`?` when a model's record has none).
pub(crate) fn version_text(version: Option<&strata_spec::EnvironmentVersion>) -> String {
    version.map_or_else(|| "?".to_string(), ToString::to_string)
}
