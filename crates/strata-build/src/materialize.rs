//! Building a prefix from a lock into the content-addressed cache: built in a temporary
//! directory, renamed into place when complete, one builder per lock hash.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use strata_spec::{Lock, PypiSource, PythonSource};

use crate::cache::{Cache, Lease, short};
use crate::conda::install_conda_for;
use crate::error::BuildError;
use crate::interpreter::{find_system_cached, probe};
use crate::reporter::{BuildLog, step};
use crate::resolve::{BuildContext, PLATFORM, expand_variables, file_url, wheel_copy};
use crate::uv::{Uv, run};
use crate::wheel_check::{SourceOnly, source_only_packages};

/// The file whose presence says a prefix is complete (it is written before the rename).
pub const MARKER: &str = "strata-prefix.json";

/// A materialized environment. A prefix from the cache holds a lease on it, so `cache gc`
/// keeps it for as long as this value (or a clone) lives.
#[derive(Debug, Clone)]
pub struct Prefix {
    pub path: PathBuf,
    /// Its interpreter.
    pub python: PathBuf,
    pub lock_hash: String,
    /// True when nothing was built (cache hit, or a user-managed interpreter).
    pub reused: bool,
    /// `None` for a user-managed interpreter, which is not in the cache.
    pub lease: Option<Arc<Lease>>,
}

/// The prefix of a lock if it is already built, marking it used; the cache-hit path.
pub fn lookup(lock_hash: &str, cache: &Cache) -> Option<Prefix> {
    let path = cache.prefix_path(lock_hash);
    if !path.join(MARKER).exists() {
        return None;
    }
    // Leased before the marker is opened: gc removes a prefix only under an exclusive lease,
    // so a marker seen while the lease is held stays until the lease is dropped.
    let lease = cache.lease(lock_hash).ok()?;
    let marker = path.join(MARKER);
    let file = fs_err::File::options().append(true).open(&marker).ok()?;
    // The marker's modification time is the prefix's last use, for `cache gc`.
    let _ = file.file().set_modified(SystemTime::now());
    Some(Prefix {
        python: path.join("bin/python"),
        path,
        lock_hash: lock_hash.to_string(),
        reused: true,
        lease: Some(Arc::new(lease)),
    })
}

/// Builds the prefix of `lock` unless it exists. Concurrent callers for one lock wait for a
/// single build and all get the same path; a build that dies leaves only a temporary
/// directory, removed by the next build.
pub fn materialize(
    lock: &Lock,
    context: &BuildContext<'_>,
    log: &mut BuildLog,
) -> Result<Prefix, BuildError> {
    let lock_hash = lock.hash();
    if let Some(user) = &lock.user_managed {
        let interpreter = probe(Path::new(&user.interpreter))?;
        let prefix = interpreter
            .path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        return Ok(Prefix {
            path: prefix,
            python: interpreter.path,
            lock_hash,
            reused: true,
            lease: None,
        });
    }
    if let Some(prefix) = lookup(&lock_hash, context.cache) {
        return Ok(prefix);
    }
    let cache = context.cache;
    cache.ensure()?;
    let key = short(&lock_hash).to_string();
    let lock_path = cache.envs_dir().join(".locks").join(format!("{key}.lock"));
    let guard = fs_err::File::create(&lock_path).map_err(|e| BuildError::io(&lock_path, e))?;
    if guard.file().try_lock().is_err() {
        step(
            context.reporter,
            log,
            "Waiting for another build of this environment",
        );
        guard
            .file()
            .lock()
            .map_err(|e| BuildError::io(&lock_path, e))?;
    }
    if let Some(prefix) = lookup(&lock_hash, cache) {
        log.line("another process built it meanwhile");
        return Ok(prefix);
    }
    remove_stale_builds(cache, &key)?;

    let target = cache.prefix_path(&lock_hash);
    // One name per lock (we hold its lock): uv remembers interpreters by path, so a rebuild of
    // the same lock skips probing the new environment's Python again.
    let staging = cache.envs_dir().join(format!(".tmp-{key}"));
    let result = build_into(lock, &staging, &target, context, log);
    if let Err(error) = result {
        let _ = fs_err::remove_dir_all(&staging);
        return Err(error);
    }
    fs_err::rename(&staging, &target).map_err(|e| BuildError::io(&target, e))?;
    log.line(&format!("published {}", target.display()));
    // Taken while the build lock is still held, so gc cannot come in between.
    let lease = cache.lease(&lock_hash)?;
    Ok(Prefix {
        python: target.join("bin/python"),
        path: target,
        lock_hash,
        reused: false,
        lease: Some(Arc::new(lease)),
    })
}

fn build_into(
    lock: &Lock,
    staging: &Path,
    target: &Path,
    context: &BuildContext<'_>,
    log: &mut BuildLog,
) -> Result<(), BuildError> {
    let python = lock
        .python
        .as_ref()
        .ok_or_else(|| BuildError::InvalidLock {
            reason: "it names no Python".to_string(),
        })?;
    let uv = Uv::locate(context.cache, log)?;
    if python.source == PythonSource::System {
        step(
            context.reporter,
            log,
            &format!("Creating a Python {} environment", python.version),
        );
        let interpreter =
            find_system_cached(&uv, context.cache, &format!("=={}", python.version), log)?;
        let mut command = uv.command();
        command
            .args(["venv", "--quiet", "--relocatable", "--python"])
            .arg(&interpreter.path)
            .arg(staging);
        run(command, log)?;
    }
    install_conda_packages(lock, staging, target, context, log)?;
    if !lock.pypi.is_empty() {
        step(
            context.reporter,
            log,
            &format!("Installing {} PyPI packages with uv", lock.pypi.len()),
        );
        let requirements = staging.join(".strata-requirements.txt");
        write_requirements(lock, &requirements, context, &|path| path.to_path_buf())?;
        let python = staging.join("bin/python");
        for package in source_only_packages(&uv, &python, &requirements, lock, log) {
            let message = source_only_warning(&package, &python_version_of(lock));
            log.line(&format!("warning: {message}"));
            context.reporter.warn(&message);
        }
        let mut command = uv.command();
        command
            .args(["pip", "sync", "--quiet", "--require-hashes", "--python"])
            .arg(staging.join("bin/python"))
            .arg(&requirements);
        run(command, log)?;
        fs_err::remove_file(&requirements).map_err(|e| BuildError::io(&requirements, e))?;
    }
    fix_shebangs(staging, target)?;
    let marker = staging.join(MARKER);
    let content = serde_json::json!({
        "lockHash": lock.hash(),
        "python": python.version,
        "builtBy": format!("strata {}", env!("CARGO_PKG_VERSION")),
    });
    let mut file = fs_err::File::create(&marker).map_err(|e| BuildError::io(&marker, e))?;
    file.write_all(content.to_string().as_bytes())
        .map_err(|e| BuildError::io(&marker, e))?;
    // No fsync: it would flush the journal with every link the installers just made (tens of
    // milliseconds), and a killed process leaves no half-written page cache behind; the
    // rename that follows is what makes the prefix visible.
    Ok(())
}

/// Installs the lock's conda packages (if any) into `staging`, for use at `target`.
pub(crate) fn install_conda_packages(
    lock: &Lock,
    staging: &Path,
    target: &Path,
    context: &BuildContext<'_>,
    log: &mut BuildLog,
) -> Result<(), BuildError> {
    if lock.conda.is_empty() {
        return Ok(());
    }
    step(
        context.reporter,
        log,
        &format!("Installing {} conda packages", lock.conda.len()),
    );
    let report = install_conda_for(
        staging,
        target,
        &lock.conda,
        PLATFORM,
        &context.cache.conda_cache_dir(),
    )?;
    log.line(&format!(
        "conda: {} installed, {} unchanged",
        report.installed, report.unchanged
    ));
    Ok(())
}

/// The lock as a hash-checked requirements file for `uv pip sync`, secrets expanded here only.
/// `wheel_path` maps a private wheel's path in the cache to the path the installer sees.
pub(crate) fn write_requirements(
    lock: &Lock,
    path: &Path,
    context: &BuildContext<'_>,
    wheel_path: &dyn Fn(&Path) -> PathBuf,
) -> Result<(), BuildError> {
    let mut text = String::new();
    for option in &lock.pip_options {
        text.push_str(&expand_variables(option)?);
        text.push('\n');
    }
    for package in &lock.pypi {
        let hashes: String = package
            .hashes
            .iter()
            .map(|h| format!(" --hash=sha256:{h}"))
            .collect();
        let line = match &package.source {
            PypiSource::Index { .. } => format!("{}=={}{hashes}", package.name, package.version),
            PypiSource::Url { url } => {
                format!("{} @ {}{hashes}", package.name, expand_variables(url)?)
            }
            PypiSource::Wheel { uri } => format!(
                "{} @ {}{hashes}",
                package.name,
                file_url(&wheel_path(&wheel_copy(uri, context)?))
            ),
        };
        text.push_str(&line);
        text.push('\n');
    }
    fs_err::write(path, text).map_err(|e| BuildError::io(path, e))
}

/// Scripts that installers wrote with the staging path in their `#!` line get the final path.
fn fix_shebangs(staging: &Path, target: &Path) -> Result<(), BuildError> {
    let bin = staging.join("bin");
    let Ok(entries) = fs_err::read_dir(&bin) else {
        return Ok(());
    };
    let old = staging.to_string_lossy().into_owned();
    let new = target.to_string_lossy().into_owned();
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(bytes) = fs_err::read(&path) else {
            continue;
        };
        if !bytes.starts_with(b"#!") {
            continue;
        }
        let first_line_end = bytes
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(bytes.len());
        let first = String::from_utf8_lossy(&bytes[..first_line_end]);
        if !first.contains(&old) {
            continue;
        }
        let mut fixed = first.replace(&old, &new).into_bytes();
        fixed.extend_from_slice(&bytes[first_line_end..]);
        // Write a new file: the old one may be a hardlink into a package cache.
        let permissions = entry
            .metadata()
            .map_err(|e| BuildError::io(&path, e))?
            .permissions();
        fs_err::remove_file(&path).map_err(|e| BuildError::io(&path, e))?;
        fs_err::write(&path, fixed).map_err(|e| BuildError::io(&path, e))?;
        fs_err::set_permissions(&path, permissions).map_err(|e| BuildError::io(&path, e))?;
    }
    Ok(())
}

/// Removes temporary directories left by builds of `key` that died (we hold its lock).
fn remove_stale_builds(cache: &Cache, key: &str) -> Result<(), BuildError> {
    let prefix = format!(".tmp-{key}");
    let dir = cache.envs_dir();
    for entry in fs_err::read_dir(&dir)
        .map_err(|e| BuildError::io(&dir, e))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            fs_err::remove_dir_all(&path).map_err(|e| BuildError::io(&path, e))?;
        }
    }
    Ok(())
}

fn python_version_of(lock: &Lock) -> String {
    let version = lock.python.as_ref().map_or("", |p| p.version.as_str());
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// What building from source means, and what would avoid it.
fn source_only_warning(package: &SourceOnly, python: &str) -> String {
    let mut message = format!(
        "No wheel of `{}` {} exists for Python {python} on {PLATFORM}: uv builds it from source, which can take minutes and needs a compiler and its build dependencies",
        package.name, package.version
    );
    match &package.wheel_pythons {
        Some(pythons) if !pythons.is_empty() => message.push_str(&format!(
            ". Wheels exist for Python {}: ask for one of those (`--python`, `python=X.Y`), or pin a version of `{}` with a wheel for {python}",
            pythons.join(", "),
            package.name
        )),
        Some(_) => message.push_str(&format!(
            ". It has no wheel for Linux x86_64 at all; pin another version of `{}` if compiling fails",
            package.name
        )),
        None => {}
    }
    message
}
