//! Writing a registered version out as Azure ML files (`strata env download`, Azure ML's
//! `Environment.save_to_directory`): a v1 directory or v2 YAML, with a build context stored
//! in the workspace written beside the definition, which then points at it.

use std::path::{Path, PathBuf};

use strata_spec::{EnvironmentVersion, SpecError, write_v1_dir};
use strata_store::store::{BlobStorage, WorkspaceStore, pull_build_context};
use strata_store::{EnvironmentRecord, StoreError, Workspace};

use crate::images::{ImagesError, unpack_context};

/// The directory a downloaded build context is written to, beside the definition.
pub const CONTEXT_DIR: &str = "context";

/// Which Azure ML files a version is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionFormat {
    /// `azureml_environment.json` and its companion files.
    V1,
    /// `environment.yml`.
    V2,
}

/// Why a version could not be written out.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Images(#[from] ImagesError),
    #[error("{name}:{version} is defined by Dockerfile text, which Azure ML v2 YAML cannot hold")]
    DockerfileInV2 {
        name: String,
        version: EnvironmentVersion,
    },
    #[error("Cannot write `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DownloadError {
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::DockerfileInV2 { .. } => {
                Some("Download it with `--format v1` (it writes a `BaseDockerfile`)".to_string())
            }
            Self::Images(error) => error.hint(),
            _ => None,
        }
    }
}

/// Writes version `version` of `name` (the latest without one) into `directory` as `format`.
/// An existing definition there is refused unless `overwrite`. A build context stored in the
/// workspace is unpacked from `local` (the embedded workspace, or a server workspace's working
/// copy, fetched there first from `blobs`), opened only when the version has one.
pub async fn download_environment(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    local: &dyn Fn() -> Result<Workspace, StoreError>,
    (name, version): (&str, Option<&EnvironmentVersion>),
    directory: &Path,
    overwrite: bool,
    format: DefinitionFormat,
) -> Result<EnvironmentRecord, DownloadError> {
    let record = records.get_environment(name, version).await?;
    let mut environment = record.environment.clone();
    let stored_context = environment
        .docker
        .build_context
        .as_mut()
        .filter(|context| strata_store::stored_context_digest(&context.location).is_some())
        .map(|context| {
            let location = std::mem::replace(&mut context.location, CONTEXT_DIR.to_string());
            context.location_type = "local".to_string();
            location
        });
    if format == DefinitionFormat::V2 && environment.docker.base_dockerfile.is_some() {
        return Err(DownloadError::DockerfileInV2 {
            name: record.name,
            version: record.version,
        });
    }
    let exists = match format {
        DefinitionFormat::V1 => directory.exists(),
        DefinitionFormat::V2 => {
            directory.join("environment.yml").exists()
                || (stored_context.is_some()
                    && fs_err::symlink_metadata(directory.join(CONTEXT_DIR)).is_ok())
        }
    };
    if exists && !overwrite {
        return Err(SpecError::DirectoryExists {
            path: directory.to_path_buf(),
        }
        .into());
    }
    if let Some(location) = &stored_context {
        let local = local()?;
        pull_build_context(&local, blobs, &record).await?;
        write_context(&local, location, directory)?;
    }
    match format {
        DefinitionFormat::V1 => write_v1_dir(&environment, directory, true)?,
        DefinitionFormat::V2 => {
            fs_err::create_dir_all(directory).map_err(io(directory))?;
            strata_spec::atomic_write(
                &directory.join("environment.yml"),
                environment.to_v2_yaml().as_bytes(),
            )?;
        }
    }
    Ok(record)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError {
    let path = path.to_path_buf();
    move |source| DownloadError::Io { path, source }
}

/// Writes the stored build context `location` to `directory/context`: unpacked into a new
/// directory first and renamed into place, so an existing `context` (even a symlink) is
/// replaced, never written through.
fn write_context(
    workspace: &Workspace,
    location: &str,
    directory: &Path,
) -> Result<(), DownloadError> {
    fs_err::create_dir_all(directory).map_err(io(directory))?;
    let staging = tempfile::Builder::new()
        .prefix(".context-")
        .tempdir_in(directory)
        .map_err(io(directory))?;
    unpack_context(workspace, location, staging.path())?;
    let target = directory.join(CONTEXT_DIR);
    match fs_err::symlink_metadata(&target) {
        Ok(metadata) if metadata.is_dir() => {
            fs_err::remove_dir_all(&target).map_err(io(&target))?
        }
        Ok(_) => fs_err::remove_file(&target).map_err(io(&target))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io(&target)(error)),
    }
    fs_err::rename(staging.keep(), &target).map_err(io(&target))?;
    Ok(())
}
