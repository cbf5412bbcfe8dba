//! The container tools images are moved and run with: skopeo (registries, podman's store),
//! podman (Dockerfiles, containers) and mmdebstrap (Debian bases). Each is found on PATH, and
//! a missing one is named with the package that has it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::Result;

use crate::errors::UsageError;

/// A located tool.
pub(crate) struct Tool {
    pub(crate) path: PathBuf,
    name: &'static str,
}

impl Tool {
    /// Finds `name` on PATH, or fails saying what it is needed for.
    pub(crate) fn require(name: &'static str, purpose: &str) -> Result<Self> {
        match which(name) {
            Some(path) => Ok(Self { path, name }),
            None => Err(UsageError::new(format!(
                "`{name}` is needed for {purpose} and is not installed"
            ))
            .hint(format!(
                "Install the Debian package `{}` (`scripts/setup-containers` installs every container tool)",
                package_of(name)
            ))
            .into()),
        }
    }

    pub(crate) fn command(&self) -> Command {
        Command::new(&self.path)
    }

    /// Runs the command; a failure carries the tool's stderr.
    pub(crate) fn run(&self, command: &mut Command, what: &str) -> Result<Output> {
        let output = command
            .output()
            .map_err(|e| anyhow::anyhow!("Failed to start `{}`: {e}", self.path.display()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(UsageError::new(format!(
                "{what} failed: `{}` {}:\n{}",
                self.name,
                output.status,
                stderr.trim()
            ))
            .into());
        }
        Ok(output)
    }
}

fn package_of(tool: &str) -> &str {
    match tool {
        "bwrap" => "bubblewrap",
        other => other,
    }
}

/// The first executable named `name` on PATH.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Registries on this machine are reached over plain HTTP without certificates (a local
/// `docker-registry`); every other registry with TLS verified.
pub(crate) fn is_loopback_registry(reference: &str) -> bool {
    let host = reference.split('/').next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// `--creds USER:PASSWORD` from `STRATA_REGISTRY_USERNAME` / `STRATA_REGISTRY_PASSWORD` (or the
/// definition's username), never from a stored definition's password.
pub(crate) fn registry_credentials(username: Option<&str>) -> Option<String> {
    let password = std::env::var("STRATA_REGISTRY_PASSWORD").ok()?;
    let username = std::env::var("STRATA_REGISTRY_USERNAME")
        .ok()
        .or_else(|| username.map(str::to_string))?;
    Some(format!("{username}:{password}"))
}

/// The image name podman knows an image in Strata's store by.
pub(crate) fn podman_name(reference: &str) -> String {
    if reference.contains(':') {
        format!("localhost/{reference}")
    } else {
        format!("localhost/{reference}:latest")
    }
}

/// `--load`: into podman's image store, or into Docker's when only docker is installed.
pub(crate) fn load_image(layout: &Path, reference: &str) -> Result<String> {
    if which("podman").is_none() && which("docker").is_some() {
        let skopeo = Tool::require("skopeo", "loading an image into Docker")?;
        let name = podman_name(reference);
        let mut command = skopeo.command();
        command
            .args(["copy", "--quiet"])
            .arg(format!("oci:{}:{reference}", layout.display()))
            .arg(format!("docker-daemon:{name}"));
        skopeo.run(&mut command, "Loading the image into Docker")?;
        return Ok(name);
    }
    load_into_podman(layout, reference)
}

/// Copies an image from Strata's OCI layout into podman's image store, keeping its digest
/// (layers podman already has are skipped).
pub(crate) fn load_into_podman(layout: &Path, reference: &str) -> Result<String> {
    let skopeo = Tool::require("skopeo", "loading an image into podman")?;
    let name = podman_name(reference);
    let mut command = skopeo.command();
    command
        .args(["copy", "--quiet", "--preserve-digests"])
        .arg(format!("oci:{}:{reference}", layout.display()))
        .arg(format!("containers-storage:{name}"));
    skopeo.run(&mut command, "Loading the image into podman")?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_registries_skip_tls() {
        assert!(is_loopback_registry("127.0.0.1:5000/ml/env"));
        assert!(is_loopback_registry("localhost/ml/env:1"));
        assert!(!is_loopback_registry("registry.example:5000/ml/env"));
        assert!(!is_loopback_registry("docker.io/library/debian"));
    }

    #[test]
    fn podman_names_get_a_tag() {
        assert_eq!(
            podman_name("strata/env_ab"),
            "localhost/strata/env_ab:latest"
        );
        assert_eq!(
            podman_name("strata/base/debian-python:bookworm"),
            "localhost/strata/base/debian-python:bookworm"
        );
    }
}
