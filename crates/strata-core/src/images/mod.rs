//! Container images of environments: the base image, plus the environment's prefix built inside
//! it as one layer, assembled without a daemon and named by content.

pub use base::{BaseOverride, BaseSource, DEFAULT_SUITE, debian_reference, unpack_context};
pub use error::ImagesError;
pub use sbom::attach_sbom;
pub use store::{
    ExportFormat, ImageEntry, ImageOutputs, MadeBase, Published, RemovedImages, env_image,
    list_images, make_debian_base, remove_images,
};
pub use tools::{Tool, load_image, load_into_podman, podman_name, which};

mod base;
mod error;
mod sbom;
mod store;
mod tools;

use std::path::PathBuf;

use serde_json::json;
use sha2::{Digest as _, Sha256};
use strata_build::{BuildContext, BuildLog, Cache, Reporter, materialize_in_rootfs};
use strata_image::{ImageSpec, ImageStore, LayerBuilder, StoredImage};
use strata_spec::LockedImage;
use strata_store::{EnvironmentRecord, ImageRecord, Workspace};

use crate::{WorkspaceWheels, ensure_locked, record_failure};

type Result<T, E = ImagesError> = std::result::Result<T, E>;

/// Where the environment lives inside its image.
pub const ENV_PREFIX: &str = "/opt/strata/env";

/// Changes when what an image holds for the same inputs changes.
const IMAGE_FORMAT: u32 = 3;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The image store shared by every workspace using this cache: one OCI layout.
pub fn open_store(cache: &Cache) -> Result<ImageStore> {
    let dir = cache.root().join("images").join("oci");
    ImageStore::open(&dir).map_err(|source| ImagesError::OpenStore { dir, source })
}

/// A temporary directory inside the image store (same filesystem: results are renamed in).
fn staging_dir(store: &ImageStore, prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(store.dir())
        .map_err(|source| ImagesError::Io {
            path: store.dir().to_path_buf(),
            source,
        })
}

/// The image just assembled under `reference`.
fn written(store: &ImageStore, reference: &str) -> Result<StoredImage> {
    store
        .lookup(reference)?
        .ok_or_else(|| ImagesError::NotInStore {
            reference: reference.to_string(),
        })
}

/// An environment's image, built or found.
#[derive(Debug)]
pub struct EnvImage {
    pub record: EnvironmentRecord,
    pub reference: String,
    pub digest: String,
    pub size: u64,
    /// The interpreter inside the image.
    pub python: String,
    pub base_reference: String,
    pub base_digest: String,
    pub lock_hash: Option<String>,
    pub reused: bool,
    pub store: ImageStore,
    /// The store's writer claim, held for as long as this value lives: `image rm`'s blob
    /// collection waits for it, so the image stays whole while a container run or service
    /// copies it into podman.
    _claim: std::fs::File,
}

/// Builds the image of `name:version` unless the store has it.
pub fn ensure_env_image(
    workspace: &mut Workspace,
    name: &str,
    version: Option<&strata_spec::EnvironmentVersion>,
    base_args: &BaseOverride,
    reporter: &dyn Reporter,
) -> Result<EnvImage> {
    let record = workspace.get_environment(name, version)?;
    let environment = record.environment.clone();
    check_platform(&record)?;
    normal_umask();
    let cache = Cache::from_env();
    let store = open_store(&cache)?;
    // Held until the image is tagged and used (it moves into the result), so a concurrent
    // `image rm` cannot collect its blobs.
    let writer = store.writer()?;
    let user_managed = environment.python.user_managed_dependencies;
    let lock = if user_managed {
        None
    } else {
        Some(ensure_locked(workspace, &record, &cache, reporter)?)
    };

    let source = BaseSource::choose(base_args, &environment, &store);
    let base_name = source.display();
    let pinned = lock
        .as_ref()
        .and_then(|l| l.lock.base_image.as_ref())
        .filter(|pin| pin.reference == base_name)
        .map(|pin| pin.digest.clone());
    let base = base::resolve(
        &source,
        pinned.as_deref(),
        &store,
        workspace,
        Some(&environment.docker.base_image_registry),
        reporter,
    )?;
    let base_digest = base.manifest_descriptor.digest.clone();
    // The definition's registry base is pinned on the first build; a `--base` override is for
    // one build and pins nothing.
    let from_definition = base_args.base.is_none() && base_args.base_archive.is_none();
    if let Some(lock) = &lock
        && lock.lock.base_image.is_none()
        && from_definition
        && source.is_registry()
    {
        workspace.pin_base_image(
            &record.name,
            &record.version,
            &LockedImage {
                reference: base_name.clone(),
                digest: base_digest.clone(),
            },
        )?;
    }

    let python = if user_managed {
        environment.python.interpreter_path.clone()
    } else {
        format!("{ENV_PREFIX}/bin/python")
    };
    let key = hex::encode(Sha256::digest(
        json!({
            "format": IMAGE_FORMAT,
            "base": base_digest,
            "lock": lock.as_ref().map(|l| l.lock_hash.clone()),
            "userManaged": user_managed.then(|| python.clone()),
            "platform": "linux/amd64",
        })
        .to_string()
        .as_bytes(),
    ));
    let reference = format!("strata/env_{}", &key[..32]);
    let existing = store.lookup(&reference)?;
    let (image, reused) = match existing {
        Some(image) => (image, true),
        None => {
            let _guard = image_lock(&store, &key[..32])?;
            match store.lookup(&reference)? {
                Some(image) => (image, true),
                None => (
                    build_env_image(
                        workspace,
                        &record,
                        lock.as_ref().map(|l| &l.lock),
                        &base,
                        source.portable_name().as_deref(),
                        &reference,
                        &store,
                        &cache,
                        reporter,
                    )?,
                    false,
                ),
            }
        }
    };
    let size = store.image_size(&image);
    if !reused || workspace.get_image(&reference)?.is_none() {
        workspace.record_image(&ImageRecord {
            reference: reference.clone(),
            manifest_digest: image.manifest_descriptor.digest.clone(),
            kind: "environment".to_string(),
            env_name: Some(record.name.clone()),
            env_version: Some(record.version.clone()),
            lock_hash: lock.as_ref().map(|l| l.lock_hash.clone()),
            base_reference: Some(base_name.clone()),
            base_digest: Some(base_digest.clone()),
            size,
            created_at: 0,
        })?;
    }
    Ok(EnvImage {
        record,
        digest: image.manifest_descriptor.digest.clone(),
        reference,
        size,
        python,
        base_reference: base_name,
        base_digest,
        lock_hash: lock.map(|l| l.lock_hash),
        reused,
        store,
        _claim: writer,
    })
}

/// Layers keep the permission bits files are created with: the umask must not make two
/// machines' images differ (or make files in the image unreadable to its other users).
pub fn normal_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
}

fn check_platform(record: &EnvironmentRecord) -> Result<()> {
    let platform = &record.environment.docker.platform;
    let architecture = platform.architecture.to_ascii_lowercase();
    if !platform.os.eq_ignore_ascii_case("linux")
        || !matches!(architecture.as_str(), "amd64" | "x86_64")
    {
        return Err(ImagesError::Platform {
            reference: format!("{}:{}", record.name, record.version),
            os: platform.os.clone(),
            architecture: platform.architecture.clone(),
        });
    }
    Ok(())
}

/// One builder per image key across processes; the others wait and then find it built.
pub fn image_lock(store: &ImageStore, name: &str) -> Result<std::fs::File> {
    let dir = store.dir().join(".builds");
    let path = dir.join(format!("{name}.lock"));
    let locked = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::File::create(&path))
        .and_then(|file| file.lock().map(|()| file));
    locked.map_err(|source| ImagesError::Io { path, source })
}

#[allow(clippy::too_many_arguments)]
fn build_env_image(
    workspace: &mut Workspace,
    record: &EnvironmentRecord,
    lock: Option<&strata_spec::Lock>,
    base: &StoredImage,
    base_name: Option<&str>,
    reference: &str,
    store: &ImageStore,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<StoredImage> {
    let mut layers = Vec::new();
    let mut labels = std::collections::BTreeMap::new();
    labels.insert(
        "org.opencontainers.image.base.digest".to_string(),
        base.manifest_descriptor.digest.clone(),
    );
    if let Some(name) = base_name {
        labels.insert(
            "org.opencontainers.image.base.name".to_string(),
            name.to_string(),
        );
    }
    let mut env = Vec::new();
    let base_path = base_env(base, "PATH").unwrap_or_else(|| DEFAULT_PATH.to_string());
    if let Some(lock) = lock {
        let rootfs = unpacked_base(store, base, cache, reporter)?;
        let staging = staging_dir(store, ".env-")?;
        let prefix = staging.path().join("env");
        // A base that already has a prefix there (an image of another environment): the new
        // layer hides it whole, so no file of the old environment shows through.
        let shadows = std::fs::read_dir(rootfs.join(&ENV_PREFIX[1..]))
            .is_ok_and(|mut entries| entries.next().is_some());
        let started_at = strata_store::now_millis();
        let mut log = BuildLog::default();
        log.line(&format!(
            "building the image of {}:{} on {} ({})",
            record.name, record.version, base.reference, base.manifest_descriptor.digest
        ));
        let built = {
            let wheels = WorkspaceWheels(workspace);
            let context = BuildContext {
                cache,
                wheels: &wheels,
                reporter,
            };
            materialize_in_rootfs(lock, &rootfs, ENV_PREFIX, &prefix, &context, &mut log)
        };
        let python = match built {
            Ok(python) => python,
            Err(error) => {
                let hash = lock.hash();
                return Err(record_failure(
                    workspace,
                    record,
                    Some(&hash),
                    started_at,
                    &log,
                    error,
                )
                .into());
            }
        };
        reporter.step("Writing the environment layer");
        let mut layer = LayerBuilder::new();
        layer.add_dir(&prefix, ENV_PREFIX.trim_start_matches('/'))?;
        if shadows {
            layer.add_file(
                &format!("{}/.wh..wh..opq", &ENV_PREFIX[1..]),
                Vec::new(),
                0o644,
            );
        }
        layers.push(layer.write(store)?);
        labels.insert("org.strata.lock-hash".to_string(), lock.hash());
        labels.insert("org.strata.python-version".to_string(), python.version);
        env.push(("PATH".to_string(), format!("{ENV_PREFIX}/bin:{base_path}")));
        if lock
            .python
            .as_ref()
            .is_some_and(|p| p.source == strata_spec::PythonSource::System)
        {
            env.push(("VIRTUAL_ENV".to_string(), ENV_PREFIX.to_string()));
        } else {
            env.push(("CONDA_PREFIX".to_string(), ENV_PREFIX.to_string()));
        }
    }
    env.push(("PYTHONUNBUFFERED".to_string(), "1".to_string()));
    let spec = ImageSpec {
        layers,
        env,
        labels,
        cmd: Some(vec![if lock.is_some() {
            format!("{ENV_PREFIX}/bin/python")
        } else {
            record.environment.python.interpreter_path.clone()
        }]),
        history_comment: format!(
            "strata: environment (lock {})",
            lock.map(|l| l.hash()).unwrap_or_default()
        ),
        os: "linux".to_string(),
        architecture: "amd64".to_string(),
        ..ImageSpec::default()
    };
    strata_image::assemble(store, Some(base), &spec, reference)?;
    written(store, reference)
}

/// A variable of the base image's configuration.
pub fn base_env(image: &StoredImage, key: &str) -> Option<String> {
    image.config["config"]["Env"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str())
        .find_map(|entry| entry.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// The base image unpacked once per digest (read-only use: builds bind it as `/`).
fn unpacked_base(
    store: &ImageStore,
    base: &StoredImage,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<PathBuf> {
    let hex = base
        .manifest_descriptor
        .digest
        .trim_start_matches("sha256:");
    let dir = cache.root().join("images").join("rootfs");
    let target = dir.join(&hex[..32]);
    if target.is_dir() {
        return Ok(target);
    }
    reporter.step("Unpacking the base image");
    std::fs::create_dir_all(&dir).map_err(|source| ImagesError::Io {
        path: dir.clone(),
        source,
    })?;
    let staging = dir.join(format!(".tmp-{}-{}", &hex[..32], std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    strata_image::unpack(store, base, &staging).map_err(|source| ImagesError::UnpackBase {
        reference: base.reference.clone(),
        source,
    })?;
    if std::fs::rename(&staging, &target).is_err() {
        // Another process unpacked it first.
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(target)
}
