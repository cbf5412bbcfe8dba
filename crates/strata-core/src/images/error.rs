//! What making, moving and running container images can fail with.

use std::path::PathBuf;
use std::process::ExitStatus;

use strata_store::StoreError;

use crate::PrepareError;

/// An image could not be made, found, moved or run.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    /// A container tool the step needs is not on `PATH`.
    #[error("`{tool}` is needed for {purpose} and is not installed")]
    ToolMissing { tool: &'static str, purpose: String },
    /// A container tool could not be started.
    #[error("Failed to start `{}`", .path.display())]
    ToolStart {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A container tool ran and failed; its stderr says why.
    #[error("{what} failed: `{tool}` {status}:\n{stderr}")]
    ToolFailed {
        what: String,
        tool: &'static str,
        status: ExitStatus,
        stderr: String,
    },
    /// `STRATA_IMAGE_BUILDER` names no builder Strata knows.
    #[error("Unknown image builder `{wanted}` (STRATA_IMAGE_BUILDER)")]
    UnknownBuilder { wanted: String },
    /// A registry password references a variable that is not set.
    #[error(
        "Environment variable `{name}` named in `docker.baseImageRegistry.password` is not set"
    )]
    PasswordVariableUnset { name: String },
    /// The definition asks for a platform images are not built for.
    #[error(
        "`{reference}` asks for platform {os}/{architecture} (docker.platform); images are built for linux/amd64"
    )]
    Platform {
        reference: String,
        os: String,
        architecture: String,
    },
    /// An image the step needs is not in the image store.
    #[error("No image `{reference}` in the image store")]
    NotInStore { reference: String },
    /// A base archive could not be read.
    #[error("Cannot read the base archive `{}`", .path.display())]
    BaseArchive {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A base could not be brought into the image store.
    #[error("Failed to import `{from}` into the image store")]
    Import {
        from: String,
        #[source]
        source: strata_image::ImageError,
    },
    /// A base archive could not be imported.
    #[error("Failed to import the base image `{}`", .path.display())]
    ImportArchive {
        path: PathBuf,
        #[source]
        source: strata_image::ImageError,
    },
    /// A base image could not be unpacked for a build.
    #[error("Failed to unpack the base image `{reference}`")]
    UnpackBase {
        reference: String,
        #[source]
        source: strata_image::ImageError,
    },
    /// A Docker build context is named that the workspace does not hold.
    #[error("Build context `{location}` is not stored in the workspace")]
    ContextNotStored { location: String },
    /// A stored build context could not be unpacked.
    #[error("Failed to unpack the build context `{location}`")]
    UnpackContext {
        location: String,
        #[source]
        source: std::io::Error,
    },
    /// A build context lacks the Dockerfile the definition names.
    #[error("The build context `{location}` has no `{path}` (docker.buildContext.dockerfilePath)")]
    NoDockerfile { location: String, path: String },
    /// The scoring server that service images carry is not installed.
    #[error("`strata-serve` (the scoring server for containers) is not installed next to `strata`")]
    NoServerBinary,
    /// A container service was asked to serve a directory of this machine.
    #[error(
        "`--model-dir` names a directory on this machine; a container service takes registered models"
    )]
    ModelDirInContainer,
    /// The scoring server's configuration could not be written into a service image.
    #[error("Failed to write the scoring server's configuration")]
    ServerConfig(#[source] serde_json::Error),
    /// The image store could not be opened.
    #[error("Failed to open the image store `{}`", .dir.display())]
    OpenStore {
        dir: PathBuf,
        #[source]
        source: strata_image::ImageError,
    },
    /// A file or directory of the image store or a staging area could not be used.
    #[error("Failed to use `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] strata_image::ImageError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Build(#[from] strata_build::BuildError),
}

impl ImagesError {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::ToolMissing { tool, .. } => format!(
                "Install the Debian package `{}` (`scripts/setup-containers` installs every container tool)",
                package_of(tool)
            ),
            Self::UnknownBuilder { .. } => "Use `podman`, `buildah` or `docker`".to_string(),
            Self::PasswordVariableUnset { name } => {
                format!("Set it to the registry password: `export {name}=...`")
            }
            Self::Platform { .. } => {
                "Set docker.platform to {\"os\": \"Linux\", \"architecture\": \"amd64\"}"
                    .to_string()
            }
            Self::NotInStore { .. } => "`strata image list` shows the references".to_string(),
            Self::ContextNotStored { .. } => "Register the environment from a directory that holds the context (`strata env register -d DIR`)".to_string(),
            Self::NoServerBinary => "Install both binaries of the strata-cli package (`cargo install --path crates/strata-cli`)".to_string(),
            Self::ModelDirInContainer => {
                "Register the directory (`strata model register`) and pass `--model NAME`"
                    .to_string()
            }
            _ => return None,
        })
    }

    /// Whether the user or the machine caused it (a missing tool, a refused pull), not a bug.
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::Image(error)
            | Self::Import { source: error, .. }
            | Self::ImportArchive { source: error, .. }
            | Self::UnpackBase { source: error, .. }
            | Self::OpenStore { source: error, .. } => error.is_user_error(),
            Self::Store(error) => error.is_user_error(),
            Self::Build(error) => error.is_user_error(),
            Self::Prepare(PrepareError::Store(error)) => error.is_user_error(),
            Self::Prepare(_) => true,
            _ => true,
        }
    }
}

/// The Debian package a tool comes in.
fn package_of(tool: &str) -> &str {
    match tool {
        "bwrap" => "bubblewrap",
        other => other,
    }
}
