//! The image verbs: an environment's image with its outputs, the Debian base, and the image
//! store's listing and removal.

use std::path::PathBuf;

use strata_build::{Cache, Reporter};
use strata_image::ImageStore;
use strata_store::Workspace;

use super::base::{self, BaseOverride};
use super::tools::{self, Tool, is_loopback_registry, registry_credentials};
use super::{
    EnvImage, ImagesError, Result, attach_sbom, ensure_env_image, normal_umask, open_store,
};

/// How an image is written out besides the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// An OCI layout directory.
    OciDir,
    /// An OCI archive (a tar of the layout).
    OciArchive,
}

/// Where an environment's image goes once it is in the store.
#[derive(Debug, Clone, Default)]
pub struct ImageOutputs {
    pub export: Option<(ExportFormat, PathBuf)>,
    /// Into podman's image store (Docker's when only docker is installed).
    pub load: bool,
    /// `REGISTRY/REPO[:TAG]`.
    pub push: Option<String>,
}

/// An environment's image and where it went.
#[derive(Debug)]
pub struct Published {
    pub image: EnvImage,
    /// The SBOM referrer's digest, for images with a lock.
    pub sbom: Option<String>,
    /// The name podman (or Docker) knows it by.
    pub loaded: Option<String>,
    /// `REGISTRY/REPO:TAG@DIGEST`.
    pub pushed: Option<String>,
}

/// `strata env image`: builds (or finds) the image of `name:version`, records its SBOM beside
/// it, then exports, loads and pushes it as asked.
pub fn env_image(
    workspace: &mut Workspace,
    name: &str,
    version: Option<&strata_spec::EnvironmentVersion>,
    base: &BaseOverride,
    outputs: &ImageOutputs,
    reporter: &dyn Reporter,
) -> Result<Published> {
    let image = ensure_env_image(workspace, name, version, base, reporter)?;
    let sbom = attach_sbom(workspace, &image)?;
    if let Some((format, path)) = &outputs.export {
        reporter.step(&format!("Writing {} {}", format.name(), path.display()));
        match format {
            ExportFormat::OciDir => {
                strata_image::export_oci_dir(&image.store, &image.reference, path)?;
            }
            ExportFormat::OciArchive => {
                strata_image::export_oci_archive(&image.store, &image.reference, path)?;
            }
        }
    }
    let loaded = if outputs.load {
        reporter.step("Loading the image");
        Some(tools::load_image(image.store.dir(), &image.reference)?)
    } else {
        None
    };
    let pushed = match &outputs.push {
        Some(destination) => {
            reporter.step(&format!("Pushing to {destination}"));
            Some(push(&image, destination)?)
        }
        None => None,
    };
    Ok(Published {
        image,
        sbom,
        loaded,
        pushed,
    })
}

impl ExportFormat {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::OciDir => "oci-dir",
            Self::OciArchive => "oci-archive",
        }
    }
}

/// Pushes with skopeo, keeping the manifest digest; returns `REGISTRY/REPO:TAG@DIGEST`.
fn push(image: &EnvImage, destination: &str) -> Result<String> {
    let skopeo = Tool::require("skopeo", "pushing an image")?;
    let last = destination.rsplit('/').next().unwrap_or_default();
    let target = if last.contains(':') || destination.contains('@') {
        destination.to_string()
    } else {
        let tag = image.reference.rsplit('/').next().unwrap_or("latest");
        format!("{destination}:{tag}")
    };
    let mut command = skopeo.command();
    command.args(["copy", "--quiet", "--preserve-digests"]);
    if is_loopback_registry(destination) {
        command.arg("--dest-tls-verify=false");
    }
    if let Some(credentials) = registry_credentials(None)? {
        command.arg("--dest-creds").arg(credentials);
    }
    command
        .arg(format!(
            "oci:{}:{}",
            image.store.dir().display(),
            image.reference
        ))
        .arg(format!("docker://{target}"));
    skopeo.run(&mut command, &format!("Pushing to `{target}`"))?;
    Ok(format!("{target}@{}", image.digest))
}

/// The Debian base, made or found.
#[derive(Debug, Clone)]
pub struct MadeBase {
    pub reference: String,
    pub digest: String,
    pub size: u64,
    pub reused: bool,
    /// The image store's OCI layout.
    pub layout: PathBuf,
}

/// `strata image base debian-python`.
pub fn make_debian_base(suite: &str, rebuild: bool, reporter: &dyn Reporter) -> Result<MadeBase> {
    normal_umask();
    let store = open_store(&Cache::from_env())?;
    let _writer = store.writer()?;
    let (image, made) = base::debian(&store, suite, rebuild, reporter)?;
    Ok(MadeBase {
        reference: base::debian_reference(suite),
        digest: image.manifest_descriptor.digest.clone(),
        size: store.image_size(&image),
        reused: !made,
        layout: store.dir().to_path_buf(),
    })
}

/// An image in the store, with what a workspace knows of it.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    pub reference: String,
    pub digest: String,
    pub size: u64,
    /// `NAME:VERSION`, when the workspace recorded the image.
    pub environment: Option<String>,
    /// When the workspace recorded it (Unix milliseconds).
    pub created_at: Option<i64>,
}

/// Every image in the store, by reference.
pub fn list_images(workspace: Option<&Workspace>) -> Result<Vec<ImageEntry>> {
    let store = open_store(&Cache::from_env())?;
    let records = match workspace {
        Some(workspace) => workspace.list_images()?,
        None => Vec::new(),
    };
    let mut images = store.list()?;
    images.sort_by(|a, b| a.reference.cmp(&b.reference));
    Ok(images
        .into_iter()
        .map(|image| {
            let record = records.iter().find(|r| r.reference == image.reference);
            ImageEntry {
                size: store.image_size(&image),
                digest: image.manifest_descriptor.digest.clone(),
                environment: record.and_then(|r| {
                    Some(format!(
                        "{}:{}",
                        r.env_name.as_ref()?,
                        r.env_version.as_ref()?
                    ))
                }),
                created_at: record.map(|r| r.created_at),
                reference: image.reference,
            }
        })
        .collect())
}

/// What `strata image rm` took away.
#[derive(Debug, Clone, Default)]
pub struct RemovedImages {
    pub references: Vec<String>,
    /// Blobs no image uses any more, deleted, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
    /// Unpacked bases whose image is gone.
    pub unpacked: usize,
}

/// Removes images from the store (every one with `all`), then the blobs and unpacked bases
/// nothing uses. An unknown reference is refused before anything is removed.
pub fn remove_images(
    mut workspace: Option<&mut Workspace>,
    references: &[String],
    all: bool,
) -> Result<RemovedImages> {
    let cache = Cache::from_env();
    let store = open_store(&cache)?;
    let references: Vec<String> = if all {
        store.list()?.into_iter().map(|i| i.reference).collect()
    } else {
        references.to_vec()
    };
    for reference in &references {
        if store.lookup(reference)?.is_none() {
            return Err(ImagesError::NotInStore {
                reference: reference.clone(),
            });
        }
    }
    let mut removed = RemovedImages::default();
    for reference in references {
        // Another `image rm` may have taken it since: it is gone either way.
        store.remove(&reference)?;
        if let Some(workspace) = workspace.as_deref_mut() {
            workspace.delete_image(&reference)?;
        }
        removed.references.push(reference);
    }
    (removed.blobs, removed.bytes) = store.gc()?;
    removed.unpacked = remove_unused_rootfs(&cache, &store)?;
    Ok(removed)
}

/// Unpacked bases (named by their digest) whose image is no longer in the store.
fn remove_unused_rootfs(cache: &Cache, store: &ImageStore) -> Result<usize> {
    let dir = cache.root().join("images").join("rootfs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(0);
    };
    let kept: Vec<String> = store
        .list()?
        .iter()
        .map(|image| {
            let hex = image
                .manifest_descriptor
                .digest
                .trim_start_matches("sha256:");
            hex[..32.min(hex.len())].to_string()
        })
        .collect();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || kept.contains(&name) {
            continue;
        }
        let path = entry.path();
        std::fs::remove_dir_all(&path).map_err(|source| ImagesError::Io { path, source })?;
        removed += 1;
    }
    Ok(removed)
}
