//! Building a lock's prefix for a container image: inside the image's root filesystem, with
//! bubblewrap, so the interpreter, the C library and every path are the image's own. The prefix
//! is written to a host directory that the sandbox sees at its final path in the image.

use std::path::{Path, PathBuf};
use std::process::Command;

use strata_spec::{Lock, PythonSource};

use crate::error::BuildError;
use crate::materialize::{install_conda_packages, write_requirements};
use crate::reporter::{BuildLog, step};
use crate::resolve::{BuildContext, PLATFORM};
use crate::uv::{Uv, run, which};

/// Fixed time for everything the installers stamp (`.pyc` become hash-based, not mtime-based).
pub const SOURCE_DATE_EPOCH: &str = "1700000000";

/// Where the sandbox mounts Strata's tools; a tmpfs, so nothing lands in the image.
const TOOLS: &str = "/tmp/strata";

/// Interpreters tried in the root filesystem when the definition names none, in order.
const PYTHONS: &[&str] = &[
    "/usr/local/bin/python3",
    "/usr/bin/python3",
    "/opt/conda/bin/python",
];

/// A Python found inside a root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsPython {
    /// Its path inside the root filesystem.
    pub path: String,
    /// `major.minor.micro`.
    pub version: String,
}

/// Runs commands inside an unpacked root filesystem with bubblewrap, sharing the host's network,
/// DNS and CA bundle (HTTPS here may go through an intercepting proxy that only the host trusts).
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    bwrap: PathBuf,
    rootfs: PathBuf,
    binds: Vec<(PathBuf, String, bool)>,
}

impl Sandbox {
    /// A sandbox over `rootfs`; fails when bubblewrap is not installed.
    pub(crate) fn new(rootfs: &Path) -> Result<Self, BuildError> {
        let bwrap = which("bwrap").ok_or_else(|| BuildError::ToolMissing {
            tool: "bwrap".to_string(),
            purpose: "building an environment inside a container image".to_string(),
            package: "bubblewrap".to_string(),
        })?;
        Ok(Self {
            bwrap,
            rootfs: rootfs.to_path_buf(),
            binds: Vec::new(),
        })
    }

    /// Makes host `source` visible at `target` (a path under `/tmp/strata` or one whose mount
    /// point exists in the root filesystem).
    pub(crate) fn bind(&mut self, source: &Path, target: &str, writable: bool) {
        self.binds
            .push((source.to_path_buf(), target.to_string(), writable));
    }

    /// A command run inside the sandbox with extra variables: `program` is a path inside the
    /// root filesystem; its arguments are added by the caller.
    pub(crate) fn command(&self, variables: &[(&str, &str)], program: &str) -> Command {
        let mut command = Command::new(&self.bwrap);
        command
            .arg("--ro-bind")
            .arg(&self.rootfs)
            .arg("/")
            .args(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"])
            .args(["--unshare-pid", "--unshare-ipc", "--unshare-uts"])
            .args(["--die-with-parent", "--clearenv"]);
        if fs_err::symlink_metadata(self.rootfs.join("etc/resolv.conf")).is_ok_and(|m| m.is_file())
        {
            command.args(["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"]);
        }
        if let Some(bundle) = host_ca_bundle() {
            command
                .arg("--ro-bind")
                .arg(bundle)
                .arg(format!("{TOOLS}/ca.crt"));
            command.args(["--setenv", "SSL_CERT_FILE", &format!("{TOOLS}/ca.crt")]);
        }
        for (source, target, writable) in &self.binds {
            command
                .arg(if *writable { "--bind" } else { "--ro-bind" })
                .arg(source)
                .arg(target);
        }
        command.args([
            "--setenv",
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "SOURCE_DATE_EPOCH",
            SOURCE_DATE_EPOCH,
            "--setenv",
            "PYTHONHASHSEED",
            "0",
            "--setenv",
            "LC_ALL",
            "C.UTF-8",
        ]);
        for (key, value) in std::env::vars() {
            if key.eq_ignore_ascii_case("http_proxy")
                || key.eq_ignore_ascii_case("https_proxy")
                || key.eq_ignore_ascii_case("no_proxy")
            {
                command.args(["--setenv", &key, &value]);
            }
        }
        for (key, value) in variables {
            command.args(["--setenv", key, value]);
        }
        command.arg(program);
        command
    }

    /// The Python to build on: `requested` (a path in the root filesystem) or the first of the
    /// usual places, with its version.
    pub(crate) fn python(
        &self,
        requested: Option<&str>,
        log: &mut BuildLog,
    ) -> Result<RootfsPython, BuildError> {
        let candidates: Vec<&str> = match requested {
            Some(path) => vec![path],
            None => PYTHONS.to_vec(),
        };
        for candidate in &candidates {
            let inside = self.rootfs.join(candidate.trim_start_matches('/'));
            if std::fs::symlink_metadata(&inside).is_err() {
                continue;
            }
            let mut command = self.command(&[], candidate);
            command.args(["-c", "import platform; print(platform.python_version())"]);
            let output = run(command, log)?;
            let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
            return Ok(RootfsPython {
                path: (*candidate).to_string(),
                version,
            });
        }
        Err(BuildError::NoImagePython {
            tried: candidates.iter().map(|c| (*c).to_string()).collect(),
        })
    }
}

/// Builds the prefix of `lock` for an image: it will live at `target` inside the image (e.g.
/// `/opt/strata/env`), and is written to `staging` on the host. `rootfs` is the base image,
/// unpacked; it is only read. Returns the Python the prefix runs on.
pub fn materialize_in_rootfs(
    lock: &Lock,
    rootfs: &Path,
    target: &str,
    staging: &Path,
    context: &BuildContext<'_>,
    log: &mut BuildLog,
) -> Result<RootfsPython, BuildError> {
    if lock.platform != PLATFORM {
        return Err(BuildError::InvalidLock {
            reason: format!(
                "it is for `{}`, and images are built for `{PLATFORM}`",
                lock.platform
            ),
        });
    }
    let python = lock
        .python
        .as_ref()
        .ok_or_else(|| BuildError::InvalidLock {
            reason: "it names no Python".to_string(),
        })?;
    fs_err::create_dir_all(staging).map_err(|e| BuildError::io(staging, e))?;
    // bwrap cannot create mount points in a read-only root: make the prefix's here, empty. It is
    // the only change to the unpacked base and is not part of any layer.
    let mount_point = rootfs.join(target.trim_start_matches('/'));
    fs_err::create_dir_all(&mount_point).map_err(|e| BuildError::io(&mount_point, e))?;
    // The same for the host's DNS configuration: images often have none, or a symlink into
    // /run (systemd-resolved) that does not resolve outside a running system.
    let resolv = rootfs.join("etc/resolv.conf");
    if !fs_err::symlink_metadata(&resolv).is_ok_and(|m| m.is_file()) {
        let _ = fs_err::remove_file(&resolv);
        let etc = rootfs.join("etc");
        fs_err::create_dir_all(&etc).map_err(|e| BuildError::io(&etc, e))?;
        fs_err::write(&resolv, "").map_err(|e| BuildError::io(&resolv, e))?;
    }
    let uv = Uv::locate(context.cache, log)?;
    let mut sandbox = Sandbox::new(rootfs)?;
    sandbox.bind(staging, target, true);
    sandbox.bind(uv.path(), &format!("{TOOLS}/uv"), false);
    let uv_cache = context.cache.uv_cache_dir();
    fs_err::create_dir_all(&uv_cache).map_err(|e| BuildError::io(&uv_cache, e))?;
    sandbox.bind(&uv_cache, &format!("{TOOLS}/uv-cache"), true);
    let wheels = context.cache.wheels_dir();
    fs_err::create_dir_all(&wheels).map_err(|e| BuildError::io(&wheels, e))?;
    sandbox.bind(&wheels, &format!("{TOOLS}/wheels"), false);
    let uv_cache_inside = format!("{TOOLS}/uv-cache");
    let uv_command = |sandbox: &Sandbox| {
        sandbox.command(
            &[
                ("UV_CACHE_DIR", uv_cache_inside.as_str()),
                ("UV_PYTHON_DOWNLOADS", "never"),
                ("UV_NO_PROGRESS", "1"),
                // The cache and the prefix are different mounts: links across them fail anyway.
                ("UV_LINK_MODE", "copy"),
            ],
            &format!("{TOOLS}/uv"),
        )
    };

    let interpreter = match python.source {
        PythonSource::System => {
            let found = sandbox.python(None, log)?;
            if minor(&found.version) != minor(&python.version) {
                return Err(BuildError::ImagePythonMismatch {
                    path: found.path,
                    found: found.version,
                    locked: python.version.clone(),
                });
            }
            step(
                context.reporter,
                log,
                &format!(
                    "Creating a Python {} environment at {target} in the image",
                    found.version
                ),
            );
            let mut command = uv_command(&sandbox);
            command.args(["venv", "--quiet", "--python", &found.path, target]);
            run(command, log)?;
            RootfsPython {
                path: format!("{target}/bin/python"),
                version: found.version,
            }
        }
        PythonSource::Conda => RootfsPython {
            path: format!("{target}/bin/python"),
            version: python.version.clone(),
        },
    };
    install_conda_packages(lock, staging, Path::new(target), context, log)?;
    if !lock.conda.is_empty() {
        scrub_conda_meta(staging)?;
    }
    if !lock.pypi.is_empty() {
        step(
            context.reporter,
            log,
            &format!("Installing {} PyPI packages with uv", lock.pypi.len()),
        );
        let requirements = tempfile::NamedTempFile::new_in(context.cache.root())
            .map_err(|e| BuildError::io(context.cache.root(), e))?;
        let wheels_dir = wheels.clone();
        write_requirements(lock, requirements.path(), context, &|path| match path
            .strip_prefix(&wheels_dir)
        {
            Ok(rest) => Path::new(TOOLS).join("wheels").join(rest),
            Err(_) => path.to_path_buf(),
        })?;
        let mut sandbox = sandbox.clone();
        sandbox.bind(
            requirements.path(),
            &format!("{TOOLS}/requirements.txt"),
            false,
        );
        let mut command = uv_command(&sandbox);
        command.args([
            "pip",
            "sync",
            "--quiet",
            "--require-hashes",
            "--python",
            &interpreter.path,
            &format!("{TOOLS}/requirements.txt"),
        ]);
        run(command, log)?;
    }
    // Bytecode is compiled here, once: a container's first import would otherwise compile it
    // again on every start.
    step(context.reporter, log, "Compiling bytecode");
    crate::bytecode::compile(
        &sandbox,
        &interpreter,
        staging,
        target,
        &context.cache.root().join("bytecode-v1"),
        log,
    )?;
    Ok(interpreter)
}

fn minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Package records name the host paths they were extracted from; an image must not depend on
/// where the cache was.
fn scrub_conda_meta(prefix: &Path) -> Result<(), BuildError> {
    let dir = prefix.join("conda-meta");
    let Ok(entries) = fs_err::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = fs_err::read_to_string(&path).map_err(|e| BuildError::io(&path, e))?;
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if let Some(object) = value.as_object_mut() {
            for key in ["extracted_package_dir", "package_tarball_full_path"] {
                object.remove(key);
            }
        }
        let text = serde_json::to_string_pretty(&value).unwrap_or(text);
        fs_err::write(&path, text).map_err(|e| BuildError::io(&path, e))?;
    }
    Ok(())
}

/// The host's CA bundle (what the host's own HTTPS clients trust).
pub fn host_ca_bundle() -> Option<PathBuf> {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            PathBuf::from("/etc/pki/tls/certs/ca-bundle.crt"),
        ])
        .find(|path| path.is_file())
}
