//! Base images: made from Debian packages, imported from archives, pulled from registries,
//! built from Dockerfiles; each ends up in Strata's image store, pinned by digest.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use strata_build::Reporter;
use strata_image::{ImageSpec, ImageStore, StoredImage};
use strata_spec::{ContainerRegistry, Environment};
use strata_store::Workspace;

use super::tools::{Tool, is_loopback_registry, registry_credentials};
use super::{ImagesError, Result, staging_dir};

/// Where an image's base comes from when the definition's `docker` section is overridden
/// (`--base`, `--base-archive`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseOverride {
    /// A registry reference, an image in the store, or a skopeo transport.
    pub base: Option<String>,
    /// An OCI or docker archive.
    pub base_archive: Option<PathBuf>,
}

/// The base of environments that name none.
pub const DEFAULT_SUITE: &str = "bookworm";

/// Packages of the Debian base: Python with venv, and libstdc++ (manylinux wheels of numpy,
/// scipy and scikit-learn need it).
const DEBIAN_PACKAGES: &str =
    "python3,python3-venv,libstdc++6,base-files,base-passwd,dash,coreutils,ca-certificates";

/// Where a base comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    /// `strata image base debian-python --suite SUITE`, made when missing.
    Debian(String),
    /// An image already in Strata's store.
    Store(String),
    /// An OCI or docker archive.
    Archive(PathBuf),
    /// Anything skopeo reads (`oci:`, `oci-archive:`, `docker-archive:`, `containers-storage:`).
    Transport(String),
    /// A registry reference.
    Registry(String),
    /// A Dockerfile (text) and its build context (a stored context reference), built with podman.
    Dockerfile {
        text: String,
        context: Option<String>,
        path: String,
    },
}

impl BaseSource {
    /// What the command line or else the definition asks for.
    pub fn choose(args: &BaseOverride, environment: &Environment, store: &ImageStore) -> Self {
        if let Some(archive) = &args.base_archive {
            return Self::Archive(archive.clone());
        }
        if let Some(base) = &args.base {
            return Self::classify(base, store);
        }
        let docker = &environment.docker;
        if let Some(text) = &docker.base_dockerfile {
            return Self::Dockerfile {
                text: text.clone(),
                context: None,
                path: "Dockerfile".to_string(),
            };
        }
        if let Some(context) = &docker.build_context {
            return Self::Dockerfile {
                text: String::new(),
                context: Some(context.location.clone()),
                path: context.dockerfile_path.clone(),
            };
        }
        match &docker.base_image {
            Some(image) if !image.trim().is_empty() => {
                // Azure ML names the registry apart: `baseImageRegistry.address` + `baseImage`.
                let address = docker
                    .base_image_registry
                    .address
                    .as_deref()
                    .map(|a| a.trim().trim_end_matches('/'))
                    .filter(|a| !a.is_empty());
                match address {
                    Some(address) if !image.trim().starts_with(address) => {
                        Self::Registry(format!("{address}/{}", image.trim()))
                    }
                    _ => Self::classify(image, store),
                }
            }
            _ => Self::Debian(DEFAULT_SUITE.to_string()),
        }
    }

    fn classify(text: &str, store: &ImageStore) -> Self {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("docker://") {
            return Self::Registry(rest.to_string());
        }
        for transport in [
            "oci:",
            "oci-archive:",
            "docker-archive:",
            "containers-storage:",
        ] {
            if text.starts_with(transport) {
                return Self::Transport(text.to_string());
            }
        }
        if store.lookup(text).ok().flatten().is_some() {
            return Self::Store(text.to_string());
        }
        Self::Registry(text.to_string())
    }

    /// Whether builds pin this base in the lock: registry images, whose tags move.
    pub fn is_registry(&self) -> bool {
        matches!(self, Self::Registry(_))
    }

    /// The name an image built on this base records in its labels: only names that mean the
    /// same on every machine (a local path would make the digest depend on where a file is).
    pub fn portable_name(&self) -> Option<String> {
        match self {
            Self::Debian(_) | Self::Store(_) | Self::Registry(_) => Some(self.display()),
            Self::Archive(_) | Self::Transport(_) | Self::Dockerfile { .. } => None,
        }
    }

    /// How the base is named in the lock and in messages.
    pub fn display(&self) -> String {
        match self {
            Self::Debian(suite) => debian_reference(suite),
            Self::Store(reference) | Self::Transport(reference) | Self::Registry(reference) => {
                reference.clone()
            }
            Self::Archive(path) => format!("archive:{}", path.display()),
            Self::Dockerfile { .. } => "Dockerfile".to_string(),
        }
    }
}

/// The Debian base of `suite`, and whether it was made now: found in the store, else made
/// (`rebuild` makes it again). One mmdebstrap per suite at a time; the others wait, then find
/// its image.
pub(super) fn debian(
    store: &ImageStore,
    suite: &str,
    rebuild: bool,
    reporter: &dyn Reporter,
) -> Result<(StoredImage, bool)> {
    let reference = debian_reference(suite);
    if !rebuild && let Some(image) = store.lookup(&reference)? {
        return Ok((image, false));
    }
    let _guard = super::image_lock(store, &format!("base-{suite}"))?;
    match store.lookup(&reference)? {
        Some(image) if !rebuild => Ok((image, false)),
        _ => Ok((debian_python(store, suite, reporter)?, true)),
    }
}

pub fn debian_reference(suite: &str) -> String {
    format!("strata/base/debian-python:{suite}")
}

/// The store reference of a base pinned by digest.
fn pinned_reference(digest: &str) -> String {
    format!(
        "strata/base/sha256-{}",
        digest.trim_start_matches("sha256:")
    )
}

/// Finds or brings the base into the store. `pinned` is the digest the lock recorded for this
/// reference, used instead of asking the registry again.
pub(super) fn resolve(
    source: &BaseSource,
    pinned: Option<&str>,
    store: &ImageStore,
    workspace: &Workspace,
    registry: Option<&ContainerRegistry>,
    reporter: &dyn Reporter,
) -> Result<StoredImage> {
    match source {
        BaseSource::Debian(suite) => Ok(debian(store, suite, false, reporter)?.0),
        BaseSource::Store(reference) => {
            store
                .lookup(reference)?
                .ok_or_else(|| ImagesError::NotInStore {
                    reference: reference.clone(),
                })
        }
        BaseSource::Archive(path) => import_archive(store, path, reporter),
        BaseSource::Transport(reference) => {
            let key = hex::encode(Sha256::digest(reference.as_bytes()));
            copy_in(
                store,
                reference,
                &format!("strata/base/transport-{}", &key[..32]),
                None,
                reporter,
            )
        }
        BaseSource::Registry(reference) => {
            if let Some(digest) = pinned
                && let Some(image) = store.lookup(&pinned_reference(digest))?
            {
                return Ok(image);
            }
            // Unpinned (a `--base` override): the copy of this tag pulled before, as `docker
            // build` uses its local image; pinned versions never read this.
            let by_name = format!(
                "strata/base/ref-{}",
                &hex::encode(Sha256::digest(reference.as_bytes()))[..32]
            );
            if pinned.is_none()
                && let Some(image) = store.lookup(&by_name)?
            {
                return Ok(image);
            }
            let source = match pinned {
                Some(digest) => format!("docker://{}@{digest}", strip_tag(reference)),
                None => format!("docker://{reference}"),
            };
            reporter.step(&format!("Pulling the base image {reference}"));
            let image = copy_in(store, &source, &by_name, registry, reporter)?;
            let pinned = pinned_reference(&image.manifest_descriptor.digest);
            store.tag(&pinned, &image.manifest_descriptor)?;
            Ok(store.lookup(&pinned)?.unwrap_or(image))
        }
        BaseSource::Dockerfile {
            text,
            context,
            path,
        } => dockerfile(store, workspace, text, context.as_deref(), path, reporter),
    }
}

/// `REPO:TAG` or `REPO@sha256:...` without the tag or digest.
fn strip_tag(reference: &str) -> &str {
    if let Some((name, _)) = reference.split_once('@') {
        return name;
    }
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => reference,
    }
}

/// `skopeo copy SOURCE oci:STORE:REFERENCE`, keeping the digest.
fn copy_in(
    store: &ImageStore,
    source: &str,
    reference: &str,
    registry: Option<&ContainerRegistry>,
    reporter: &dyn Reporter,
) -> Result<StoredImage> {
    let skopeo = Tool::require("skopeo", "bringing a base image into the image store")?;
    reporter.step(&format!("Copying {source} into the image store"));
    let mut command = skopeo.command();
    command.args(["copy", "--quiet", "--preserve-digests"]);
    if let Some(rest) = source.strip_prefix("docker://") {
        if is_loopback_registry(rest) {
            command.arg("--src-tls-verify=false");
        }
        if let Some(credentials) = registry_credentials(registry)? {
            command.arg("--src-creds").arg(credentials);
        }
    }
    // skopeo writes into a layout of its own: it rewrites `index.json` without the store's
    // lock, which could lose an image tagged meanwhile. The import keeps every byte, so the
    // digest is the registry's.
    let staging = staging_dir(store, ".pull-")?;
    command
        .arg(source)
        .arg(format!("oci:{}:pulled", staging.path().display()));
    skopeo.run(&mut command, &format!("Copying the base image `{source}`"))?;
    strata_image::import_oci_dir(store, staging.path(), Some("pulled"), reference).map_err(
        |error| ImagesError::Import {
            from: source.to_string(),
            source: error,
        },
    )
}

fn import_archive(store: &ImageStore, path: &Path, reporter: &dyn Reporter) -> Result<StoredImage> {
    let metadata = std::fs::metadata(path).map_err(|source| ImagesError::BaseArchive {
        path: path.to_path_buf(),
        source,
    })?;
    // Named by path, size and modification time: a lookup must not hash a large file.
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = hex::encode(Sha256::digest(
        format!("{}\n{}\n{modified}", canonical.display(), metadata.len()).as_bytes(),
    ));
    let reference = format!("strata/base/archive-{}", &key[..32]);
    if let Some(image) = store.lookup(&reference)? {
        return Ok(image);
    }
    reporter.step(&format!("Importing the base image {}", path.display()));
    strata_image::import_archive(store, path, None, &reference).map_err(|source| {
        ImagesError::ImportArchive {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// `strata image base debian-python`: Debian packages unpacked by mmdebstrap (no maintainer
/// scripts run), with the fix-ups an unconfigured system needs, at fixed times.
fn debian_python(store: &ImageStore, suite: &str, reporter: &dyn Reporter) -> Result<StoredImage> {
    let mmdebstrap = Tool::require("mmdebstrap", "making a Debian base image")?;
    reporter.step(&format!(
        "Making the base image {} from Debian packages",
        debian_reference(suite)
    ));
    let work = staging_dir(store, ".base-")?;
    let tar = work.path().join("rootfs.tar");
    let mut command = mmdebstrap.command();
    command
        .env("SOURCE_DATE_EPOCH", strata_build::SOURCE_DATE_EPOCH)
        .args(["--quiet", "--variant=extract", "--mode=root"])
        .arg(format!("--include={DEBIAN_PACKAGES}"))
        .args([
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            // `extract` runs no maintainer scripts: users and groups come from base-passwd's
            // templates, and the merged-/usr links and /bin/sh are made here.
            "--extract-hook=cp \"$1\"/usr/share/base-passwd/passwd.master \"$1\"/etc/passwd; cp \"$1\"/usr/share/base-passwd/group.master \"$1\"/etc/group",
            "--extract-hook=for d in bin sbin lib lib64; do [ -e \"$1/$d\" ] || ln -s usr/$d \"$1/$d\"; done; ln -sf dash \"$1\"/usr/bin/sh",
            "--extract-hook=mkdir -p \"$1\"/tmp \"$1\"/root; chmod 1777 \"$1\"/tmp; : > \"$1\"/etc/resolv.conf",
            // Hash-based .pyc: the same bytes on every build, and no writes at import time.
            "--extract-hook=chroot \"$1\" /usr/bin/python3 -c 'import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()[\"stdlib\"], quiet=1, invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH)' >/dev/null",
            "--extract-hook=rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/* \"$1\"/var/log/*",
        ])
        .arg(suite)
        .arg(&tar);
    if let Some(sources) = apt_sources() {
        command.arg(sources);
    }
    mmdebstrap.run(&mut command, "Making the Debian base image")?;
    let layer = strata_image::import_layer_tar(store, &tar)?;
    let spec = ImageSpec {
        layers: vec![layer],
        env: vec![
            (
                "PATH".to_string(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ],
        labels: [
            (
                "org.opencontainers.image.title".to_string(),
                format!("Debian {suite} with Python (made by Strata)"),
            ),
            ("org.strata.debian.suite".to_string(), suite.to_string()),
            (
                "org.strata.debian.packages".to_string(),
                DEBIAN_PACKAGES.to_string(),
            ),
        ]
        .into_iter()
        .collect(),
        cmd: Some(vec!["python3".to_string()]),
        history_comment: format!("mmdebstrap --variant=extract {suite} ({DEBIAN_PACKAGES})"),
        os: "linux".to_string(),
        architecture: "amd64".to_string(),
        ..ImageSpec::default()
    };
    let reference = debian_reference(suite);
    strata_image::assemble(store, None, &spec, &reference)?;
    super::written(store, &reference)
}

/// The machine's apt sources, so no mirror has to be named (deb822 first).
fn apt_sources() -> Option<PathBuf> {
    [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|path| path.metadata().is_ok_and(|m| m.len() > 0))
}

/// A Dockerfile base: `podman build` (reproducible flags), then copied into the store. The same
/// Dockerfile and context are built once.
fn dockerfile(
    store: &ImageStore,
    workspace: &Workspace,
    text: &str,
    context: Option<&str>,
    path: &str,
    reporter: &dyn Reporter,
) -> Result<StoredImage> {
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    hasher.update(b"\0");
    hasher.update(context.unwrap_or_default().as_bytes());
    hasher.update(b"\0");
    hasher.update(path.as_bytes());
    let key = hex::encode(hasher.finalize());
    let reference = format!("strata/base/dockerfile-{}", &key[..32]);
    if let Some(image) = store.lookup(&reference)? {
        return Ok(image);
    }
    let builder = Builder::choose()?;
    let dir = staging_dir(store, ".dockerfile-")?;
    let dockerfile = match context {
        Some(location) => {
            unpack_context(workspace, location, dir.path())?;
            let file = dir.path().join(path);
            if !file.is_file() {
                return Err(ImagesError::NoDockerfile {
                    location: location.to_string(),
                    path: path.to_string(),
                });
            }
            file
        }
        None => {
            let file = dir.path().join("Dockerfile");
            std::fs::write(&file, text).map_err(|source| ImagesError::Io {
                path: file.clone(),
                source,
            })?;
            file
        }
    };
    reporter.step(&format!(
        "Building the Dockerfile base image with {}",
        builder.tool.path.display()
    ));
    let name = format!("localhost/strata/dockerfile-{}:latest", &key[..32]);
    let mut command = builder.tool.command();
    command
        .args(["build", "--quiet"])
        .args([
            "--build-arg",
            &format!("SOURCE_DATE_EPOCH={}", strata_build::SOURCE_DATE_EPOCH),
        ])
        // RUN steps reach package indexes as the host does (bridge networks may lack DNS).
        .args(["--network", "host"])
        .arg("--file")
        .arg(&dockerfile)
        .arg("--tag")
        .arg(&name);
    if builder.kind != BuilderKind::Docker {
        command.args(["--timestamp", strata_build::SOURCE_DATE_EPOCH]);
        // HTTPS from RUN steps may go through a proxy only the host's CA bundle trusts.
        if let Some(bundle) = strata_build::host_ca_bundle() {
            command.arg("--volume").arg(format!(
                "{}:/etc/ssl/certs/ca-certificates.crt:ro",
                bundle.display()
            ));
        }
    }
    command.arg(dir.path());
    builder.tool.run(&mut command, "Building the Dockerfile")?;
    let source = match builder.kind {
        BuilderKind::Docker => format!("docker-daemon:{name}"),
        BuilderKind::Podman | BuilderKind::Buildah => format!("containers-storage:{name}"),
    };
    copy_in(store, &source, &reference, None, reporter)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuilderKind {
    Podman,
    Buildah,
    Docker,
}

/// What builds Dockerfiles: `STRATA_IMAGE_BUILDER` (`podman`, `buildah`, `docker`), else the
/// first of those installed.
struct Builder {
    kind: BuilderKind,
    tool: Tool,
}

impl Builder {
    fn choose() -> Result<Self> {
        const PURPOSE: &str = "building a Dockerfile base image";
        let kinds = [
            ("podman", BuilderKind::Podman),
            ("buildah", BuilderKind::Buildah),
            ("docker", BuilderKind::Docker),
        ];
        if let Ok(wanted) = std::env::var("STRATA_IMAGE_BUILDER") {
            let Some((name, kind)) = kinds.into_iter().find(|(name, _)| *name == wanted) else {
                return Err(ImagesError::UnknownBuilder { wanted });
            };
            return Ok(Self {
                kind,
                tool: Tool::require(name, PURPOSE)?,
            });
        }
        for (name, kind) in kinds {
            if super::tools::which(name).is_some() {
                return Ok(Self {
                    kind,
                    tool: Tool::require(name, PURPOSE)?,
                });
            }
        }
        Ok(Self {
            kind: BuilderKind::Podman,
            tool: Tool::require("podman", PURPOSE)?,
        })
    }
}

/// Unpacks a build context stored in the workspace (`strata://contexts/<sha256>`) into `dir`.
pub fn unpack_context(workspace: &Workspace, location: &str, dir: &Path) -> Result<()> {
    let digest = strata_store::stored_context_digest(location).ok_or_else(|| {
        ImagesError::ContextNotStored {
            location: location.to_string(),
        }
    })?;
    let unpacked = std::fs::File::open(workspace.blobs().path(digest))
        .and_then(|file| tar::Archive::new(file).unpack(dir));
    unpacked.map_err(|source| ImagesError::UnpackContext {
        location: location.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ImageStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("oci")).unwrap();
        (dir, store)
    }

    #[test]
    fn the_command_line_wins_over_the_definition() {
        let (_dir, store) = store();
        let mut environment = Environment::new("test");
        environment.docker.base_image = Some("registry.example/ml/base:1".to_string());
        let definition = BaseSource::choose(&BaseOverride::default(), &environment, &store);
        assert_eq!(
            definition,
            BaseSource::Registry("registry.example/ml/base:1".to_string())
        );
        let args = BaseOverride {
            base: Some("oci-archive:/tmp/base.tar".to_string()),
            base_archive: None,
        };
        assert_eq!(
            BaseSource::choose(&args, &environment, &store),
            BaseSource::Transport("oci-archive:/tmp/base.tar".to_string())
        );
        let args = BaseOverride {
            base: None,
            base_archive: Some(PathBuf::from("base.tar")),
        };
        assert_eq!(
            BaseSource::choose(&args, &environment, &store),
            BaseSource::Archive(PathBuf::from("base.tar"))
        );
    }

    #[test]
    fn the_registry_address_is_joined_to_the_base_image() {
        let (_dir, store) = store();
        let mut environment = Environment::new("test");
        environment.docker.base_image = Some("ml/base:1".to_string());
        environment.docker.base_image_registry.address = Some("myregistry.azurecr.io".to_string());
        assert_eq!(
            BaseSource::choose(&BaseOverride::default(), &environment, &store),
            BaseSource::Registry("myregistry.azurecr.io/ml/base:1".to_string())
        );
        environment.docker.base_image = Some("myregistry.azurecr.io/ml/base:1".to_string());
        assert_eq!(
            BaseSource::choose(&BaseOverride::default(), &environment, &store),
            BaseSource::Registry("myregistry.azurecr.io/ml/base:1".to_string())
        );
    }

    #[test]
    fn dockerfiles_win_over_base_images_and_debian_is_the_default() {
        let (_dir, store) = store();
        let mut environment = Environment::new("test");
        assert_eq!(
            BaseSource::choose(&BaseOverride::default(), &environment, &store),
            BaseSource::Debian(DEFAULT_SUITE.to_string())
        );
        environment.docker.base_image = Some("debian:bookworm".to_string());
        environment.docker.base_dockerfile = Some("FROM debian:bookworm\n".to_string());
        assert!(matches!(
            BaseSource::choose(&BaseOverride::default(), &environment, &store),
            BaseSource::Dockerfile { context: None, .. }
        ));
    }

    #[test]
    fn tags_and_digests_are_stripped_but_not_ports() {
        assert_eq!(
            strip_tag("127.0.0.1:5000/ml/base:1"),
            "127.0.0.1:5000/ml/base"
        );
        assert_eq!(
            strip_tag("127.0.0.1:5000/ml/base"),
            "127.0.0.1:5000/ml/base"
        );
        assert_eq!(strip_tag("debian@sha256:abcd"), "debian");
        assert_eq!(strip_tag("debian"), "debian");
    }
}
