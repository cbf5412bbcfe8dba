//! Container images of environments: the base image, plus the environment's prefix built inside
//! it as one layer, assembled without a daemon and named by content.

pub(crate) mod base;
pub(crate) mod container;
pub(crate) mod tools;

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use strata_build::{BuildContext, BuildLog, Cache, Reporter, materialize_in_rootfs};
use strata_image::{ImageSpec, ImageStore, LayerBuilder, StoredImage};
use strata_spec::LockedImage;
use strata_store::{EnvironmentRecord, ImageRecord, Workspace, format_time};

use crate::cli::{BaseArgs, BaseKind, EnvImageArgs};
use crate::commands::build::{WorkspaceWheels, ensure_locked, failed};
use crate::commands::{Context, parse_ref};
use crate::errors::UsageError;
use crate::printer;
use crate::progress::TerminalReporter;
use base::BaseSource;
use tools::{Tool, is_loopback_registry, registry_credentials};

/// Where the environment lives inside its image.
pub(crate) const ENV_PREFIX: &str = "/opt/strata/env";

/// Changes when what an image holds for the same inputs changes.
const IMAGE_FORMAT: u32 = 3;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The image store shared by every workspace using this cache: one OCI layout.
pub(crate) fn open_store(cache: &Cache) -> Result<ImageStore> {
    let dir = cache.root().join("images").join("oci");
    ImageStore::open(&dir)
        .with_context(|| format!("Failed to open the image store `{}`", dir.display()))
}

/// An environment's image, built or found.
pub(crate) struct EnvImage {
    pub(crate) record: EnvironmentRecord,
    pub(crate) reference: String,
    pub(crate) digest: String,
    pub(crate) size: u64,
    /// The interpreter inside the image.
    pub(crate) python: String,
    pub(crate) base_reference: String,
    pub(crate) base_digest: String,
    pub(crate) lock_hash: Option<String>,
    pub(crate) reused: bool,
    pub(crate) store: ImageStore,
    /// The store's writer claim, held for as long as this value lives: `image rm`'s blob
    /// collection waits for it, so the image stays whole while a container run or service
    /// copies it into podman.
    pub(crate) _claim: std::fs::File,
}

/// Builds the image of `name:version` unless the store has it.
pub(crate) fn ensure_env_image(
    workspace: &mut Workspace,
    name: &str,
    version: Option<&strata_spec::EnvironmentVersion>,
    base_args: &BaseArgs,
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
pub(crate) fn normal_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
}

fn check_platform(record: &EnvironmentRecord) -> Result<()> {
    let platform = &record.environment.docker.platform;
    let architecture = platform.architecture.to_ascii_lowercase();
    if !platform.os.eq_ignore_ascii_case("linux")
        || !matches!(architecture.as_str(), "amd64" | "x86_64")
    {
        return Err(UsageError::new(format!(
            "`{}:{}` asks for platform {}/{} (docker.platform); images are built for linux/amd64",
            record.name, record.version, platform.os, platform.architecture
        ))
        .hint("Set docker.platform to {\"os\": \"Linux\", \"architecture\": \"amd64\"}")
        .into());
    }
    Ok(())
}

/// One builder per image key across processes; the others wait and then find it built.
pub(crate) fn image_lock(store: &ImageStore, name: &str) -> Result<fs_err::File> {
    let dir = store.dir().join(".builds");
    fs_err::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.lock"));
    let file = fs_err::File::create(&path)?;
    file.file()
        .lock()
        .with_context(|| format!("Failed to lock `{}`", path.display()))?;
    Ok(file)
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
        let staging = tempfile::Builder::new()
            .prefix(".env-")
            .tempdir_in(store.dir())
            .context("Failed to create a temporary directory in the image store")?;
        let prefix = staging.path().join("env");
        // A base that already has a prefix there (an image of another environment): the new
        // layer hides it whole, so no file of the old environment shows through.
        let shadows = fs_err::read_dir(rootfs.join(&ENV_PREFIX[1..]))
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
                return Err(failed(
                    workspace,
                    record,
                    Some(&hash),
                    started_at,
                    &log,
                    error,
                ));
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
    store
        .lookup(reference)?
        .with_context(|| format!("The image store has no `{reference}` after writing it"))
}

/// A variable of the base image's configuration.
pub(crate) fn base_env(image: &StoredImage, key: &str) -> Option<String> {
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
    fs_err::create_dir_all(&dir)?;
    let staging = dir.join(format!(".tmp-{}-{}", &hex[..32], std::process::id()));
    let _ = fs_err::remove_dir_all(&staging);
    strata_image::unpack(store, base, &staging)
        .with_context(|| format!("Failed to unpack the base image `{}`", base.reference))?;
    if fs_err::rename(&staging, &target).is_err() {
        // Another process unpacked it first.
        let _ = fs_err::remove_dir_all(&staging);
    }
    Ok(target)
}

/// `strata env image`.
pub(crate) fn env_image(context: &Context, args: &EnvImageArgs) -> Result<()> {
    let reference = parse_ref(&args.environment)?;
    if !args.output.is_empty() && !matches!(args.output[0].as_str(), "oci-dir" | "oci-archive") {
        return Err(
            UsageError::new(format!("Unknown output format `{}`", args.output[0]))
                .hint("Use `--output oci-dir DIR` or `--output oci-archive FILE.tar`")
                .into(),
        );
    }
    let mut workspace = context.open_workspace()?;
    let reporter = TerminalReporter::new();
    let image = ensure_env_image(
        &mut workspace,
        &reference.name,
        reference.version.as_ref(),
        &args.base,
        &reporter,
    )?;
    let sbom = crate::commands::env::sbom::attach_to_image(&workspace, &image)?;
    if let [format, path] = args.output.as_slice() {
        let path = context.cwd.join(path);
        reporter.step(&format!("Writing {format} {}", path.display()));
        if format == "oci-dir" {
            strata_image::export_oci_dir(&image.store, &image.reference, &path)?;
        } else {
            strata_image::export_oci_archive(&image.store, &image.reference, &path)?;
        }
    }
    let mut loaded = None;
    if args.load {
        reporter.step("Loading the image");
        loaded = Some(tools::load_image(image.store.dir(), &image.reference)?);
    }
    let mut pushed = None;
    if let Some(destination) = &args.push {
        reporter.step(&format!("Pushing to {destination}"));
        pushed = Some(push(&image, destination)?);
    }
    drop(reporter);
    if args.json {
        printer::json(&json!({
            "environment": format!("{}:{}", image.record.name, image.record.version),
            "reference": image.reference,
            "digest": image.digest,
            "size": image.size,
            "reused": image.reused,
            "python": image.python,
            "base": {"reference": image.base_reference, "digest": image.base_digest},
            "lockHash": image.lock_hash,
            "sbom": sbom,
            "layout": image.store.dir(),
            "loaded": loaded,
            "pushed": pushed,
        }));
        return Ok(());
    }
    printer::out(format!(
        "{} {}:{} -> {}",
        if image.reused { "Reused" } else { "Built" },
        image.record.name,
        image.record.version,
        image.reference
    ));
    printer::out(format!("digest: {}", image.digest));
    printer::out(format!(
        "base:   {} ({})",
        image.base_reference, image.base_digest
    ));
    printer::out(format!("size:   {}", crate::table::human_bytes(image.size)));
    if let Some(name) = loaded {
        printer::out(format!("loaded: {name}"));
    }
    if let Some(name) = pushed {
        printer::out(format!("pushed: {name}"));
    }
    Ok(())
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

/// `strata image base`.
pub(crate) fn make_base(kind: BaseKind, suite: &str, rebuild: bool, json: bool) -> Result<()> {
    let BaseKind::DebianPython = kind;
    normal_umask();
    let cache = Cache::from_env();
    let store = open_store(&cache)?;
    let _writer = store.writer()?;
    let reference = base::debian_reference(suite);
    let reporter = TerminalReporter::new();
    let (image, made) = base::debian(&store, suite, rebuild, &reporter)?;
    drop(reporter);
    let reused = !made;
    let size = store.image_size(&image);
    if json {
        printer::json(&json!({
            "reference": reference,
            "digest": image.manifest_descriptor.digest,
            "size": size,
            "reused": reused,
            "layout": store.dir(),
        }));
    } else {
        printer::out(format!(
            "{} {reference}",
            if reused { "Reused" } else { "Made" }
        ));
        printer::out(format!("digest: {}", image.manifest_descriptor.digest));
        printer::out(format!("size:   {}", crate::table::human_bytes(size)));
    }
    Ok(())
}

/// `strata image list`: every image in the store, with what the workspace knows of it.
pub(crate) fn list(context: &Context, json: bool) -> Result<()> {
    let cache = Cache::from_env();
    let store = open_store(&cache)?;
    let records = match context.open_workspace() {
        Ok(workspace) => workspace.list_images()?,
        Err(_) => Vec::new(),
    };
    let mut rows = Vec::new();
    let mut images = store.list()?;
    images.sort_by(|a, b| a.reference.cmp(&b.reference));
    for image in images {
        let record = records.iter().find(|r| r.reference == image.reference);
        rows.push(json!({
            "reference": image.reference,
            "digest": image.manifest_descriptor.digest,
            "size": store.image_size(&image),
            "environment": record.and_then(|r| Some(format!("{}:{}", r.env_name.as_ref()?, r.env_version.as_ref()?))),
            "created": record.map(|r| format_time(r.created_at)),
        }));
    }
    if json {
        printer::json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        printer::note("No images; `strata env image NAME` builds one");
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row["reference"].as_str().unwrap_or_default().to_string(),
                short_digest(row["digest"].as_str().unwrap_or_default()),
                crate::table::human_bytes(row["size"].as_u64().unwrap_or_default()),
                row["environment"].as_str().unwrap_or("-").to_string(),
            ]
        })
        .collect();
    printer::out(crate::table::render(
        &["REFERENCE", "DIGEST", "SIZE", "ENVIRONMENT"],
        &table,
    ));
    Ok(())
}

/// `strata image rm`.
pub(crate) fn remove(context: &Context, references: &[String], all: bool) -> Result<()> {
    let cache = Cache::from_env();
    let store = open_store(&cache)?;
    let references: Vec<String> = if all {
        store.list()?.into_iter().map(|i| i.reference).collect()
    } else {
        references.to_vec()
    };
    let mut workspace = context.open_workspace().ok();
    for reference in &references {
        if !store.remove(reference)? {
            return Err(
                UsageError::new(format!("No image `{reference}` in the image store"))
                    .hint("`strata image list` shows the references")
                    .into(),
            );
        }
        if let Some(workspace) = &mut workspace {
            workspace.delete_image(reference)?;
        }
        printer::out(format!("Removed {reference}"));
    }
    let (blobs, bytes) = store.gc()?;
    let unpacked = remove_unused_rootfs(&cache, &store)?;
    printer::note(format!(
        "Deleted {blobs} unused blobs ({}){}",
        crate::table::human_bytes(bytes),
        if unpacked > 0 {
            format!(" and {unpacked} unpacked base images")
        } else {
            String::new()
        }
    ));
    Ok(())
}

/// Unpacked bases (named by their digest) whose image is no longer in the store.
fn remove_unused_rootfs(cache: &Cache, store: &ImageStore) -> Result<usize> {
    let dir = cache.root().join("images").join("rootfs");
    let Ok(entries) = fs_err::read_dir(&dir) else {
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
        fs_err::remove_dir_all(entry.path())?;
        removed += 1;
    }
    Ok(removed)
}

fn short_digest(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("sha256:{}", &hex[..hex.len().min(12)])
}
