//! A service directory as Azure ML lays it out: `app/` (entry script, source directory) and
//! `azureml-models/<name>/<version>/`.

use std::path::{Path, PathBuf};

use strata_store::{ModelRecord, Workspace};

use super::{Result, ServingError};

/// Where a model's files are in a service directory.
pub(super) fn model_dir(dir: &Path, name: &str, version: u64) -> PathBuf {
    dir.join("azureml-models")
        .join(name)
        .join(version.to_string())
}

/// The service directory: `app/` (entry script and source directory) and
/// `azureml-models/<name>/<version>/...`, as Azure ML lays them out.
pub(super) fn lay_out(
    workspace: &Workspace,
    dir: &Path,
    (entry_script, source_dir): (&Path, Option<&Path>),
    models: &[ModelRecord],
) -> Result<()> {
    copy_app(dir, entry_script, source_dir)?;
    for model in models {
        let manifest = workspace.read_manifest(&model.manifest)?;
        let target = model_dir(dir, &model.name, model.version);
        std::fs::create_dir_all(&target).map_err(|source| ServingError::Io {
            path: target.clone(),
            source,
        })?;
        workspace.restore_tree(&manifest, "", &target)?;
    }
    Ok(())
}

/// Fresh copies of the entry script and source directory into `dir/app`, swapped in whole
/// (`reload` copies them again while the server runs).
pub fn copy_app(dir: &Path, entry_script: &Path, source_dir: Option<&Path>) -> Result<()> {
    let app = dir.join("app");
    let staging = dir.join(format!(".app-{}", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ServingError::Io { path, source }
    };
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    if let Some(source) = source_dir {
        copy_dir(
            source,
            &staging.join(source.file_name().unwrap_or_default()),
        )
        .map_err(|error| ServingError::CopyApp {
            path: source.to_path_buf(),
            source: error,
        })?;
    }
    let script_name = entry_script.file_name().unwrap_or_default();
    std::fs::copy(entry_script, staging.join(script_name)).map_err(|source| {
        ServingError::CopyApp {
            path: entry_script.to_path_buf(),
            source,
        }
    })?;
    if app.exists() {
        std::fs::remove_dir_all(&app).map_err(io(&app))?;
    }
    std::fs::rename(&staging, &app).map_err(io(&app))?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
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
