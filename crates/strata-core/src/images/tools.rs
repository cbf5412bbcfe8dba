//! The container tools images are moved and run with: skopeo (registries, podman's store),
//! podman (Dockerfiles, containers) and mmdebstrap (Debian bases). Each is found on PATH, and
//! a missing one is named with the package that has it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use strata_build::which;

use super::ImagesError;

type Result<T, E = ImagesError> = std::result::Result<T, E>;

/// A located tool.
#[derive(Debug)]
pub struct Tool {
    pub path: PathBuf,
    name: &'static str,
}

impl Tool {
    /// Finds `name` on PATH, or fails saying what it is needed for.
    pub fn require(name: &'static str, purpose: &str) -> Result<Self> {
        match which(name) {
            Some(path) => Ok(Self { path, name }),
            None => Err(ImagesError::ToolMissing {
                tool: name,
                purpose: purpose.to_string(),
            }),
        }
    }

    pub fn command(&self) -> Command {
        Command::new(&self.path)
    }

    /// Runs the command; a failure carries the tool's stderr.
    pub fn run(&self, command: &mut Command, what: &str) -> Result<Output> {
        tracing::debug!(
            "{what}: {} {:?}",
            command.get_program().to_string_lossy(),
            command.get_args().collect::<Vec<_>>()
        );
        let output = command.output().map_err(|source| ImagesError::ToolStart {
            path: self.path.clone(),
            source,
        })?;
        if !output.status.success() {
            return Err(ImagesError::ToolFailed {
                what: what.to_string(),
                tool: self.name,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(output)
    }
}

/// Registries on this machine are reached over plain HTTP without certificates (a local
/// `docker-registry`); every other registry with TLS verified.
pub(super) fn is_loopback_registry(reference: &str) -> bool {
    let host = reference.split('/').next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// `USER:PASSWORD` for skopeo's `--creds`: `STRATA_REGISTRY_USERNAME` and
/// `STRATA_REGISTRY_PASSWORD` first, else the definition's `docker.baseImageRegistry`, whose
/// password can only be a reference to a variable (`${NAME}`; a password itself is never
/// stored).
pub(super) fn registry_credentials(
    registry: Option<&strata_spec::ContainerRegistry>,
) -> Result<Option<String>> {
    let username = std::env::var("STRATA_REGISTRY_USERNAME")
        .ok()
        .or_else(|| registry.and_then(|r| r.username.clone()));
    let password = match std::env::var("STRATA_REGISTRY_PASSWORD") {
        Ok(password) => Some(password),
        Err(_) => registry
            .and_then(|r| r.password.as_deref())
            .map(expand)
            .transpose()?,
    };
    Ok(match (username, password) {
        (Some(username), Some(password)) => Some(format!("{username}:{password}")),
        _ => None,
    })
}

/// `${NAME}` references replaced by the variables' values.
fn expand(text: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &rest[start + 2..start + end];
        let value = std::env::var(name).map_err(|_| ImagesError::PasswordVariableUnset {
            name: name.to_string(),
        })?;
        out.push_str(&value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The image name podman knows an image in Strata's store by.
pub fn podman_name(reference: &str) -> String {
    if reference.contains(':') {
        format!("localhost/{reference}")
    } else {
        format!("localhost/{reference}:latest")
    }
}

/// `--load`: into podman's image store, or into Docker's when only docker is installed.
pub fn load_image(layout: &Path, reference: &str) -> Result<String> {
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
pub fn load_into_podman(layout: &Path, reference: &str) -> Result<String> {
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
    fn passwords_come_from_variables() {
        let registry = strata_spec::ContainerRegistry {
            username: Some("me".to_string()),
            password: Some("${STRATA_TEST_NO_SUCH_VARIABLE_42}".to_string()),
            ..Default::default()
        };
        let error = registry_credentials(Some(&registry)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("STRATA_TEST_NO_SUCH_VARIABLE_42"),
            "{error}"
        );
        let plain = strata_spec::ContainerRegistry {
            username: Some("me".to_string()),
            password: Some("pa${HOME}ss".to_string()),
            ..Default::default()
        };
        let home = std::env::var("HOME").unwrap();
        if std::env::var("STRATA_REGISTRY_PASSWORD").is_err()
            && std::env::var("STRATA_REGISTRY_USERNAME").is_err()
        {
            assert_eq!(
                registry_credentials(Some(&plain)).unwrap(),
                Some(format!("me:pa{home}ss"))
            );
        }
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
