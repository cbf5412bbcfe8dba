//! The lock: the exact resolution of an environment version, stored with it, so every build
//! on every machine installs the same software.
//!
//! Format version 1 (JSON): `{"version": 1, "platform", "python", "conda": [...], "pypi":
//! [...], "pipOptions": [...], "userManaged"}`. The lock hash is the sha256 of the compact JSON
//! with packages sorted by name, so the same resolution always has the same hash.
//!
//! A lock of an environment with a container base image also pins that image: `baseImage`
//! records the manifest digest the first image build resolved the reference to, so later builds
//! use the same base even when the tag moves. It is left out of the lock hash, which names the
//! software installed in the prefix (and so the prefix in the cache).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format version written into every lock.
pub const LOCK_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    pub version: u32,
    /// The conda platform the lock is for, e.g. `linux-64`.
    pub platform: String,
    pub python: Option<LockedPython>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conda: Vec<CondaLockedPackage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pypi: Vec<PypiLockedPackage>,
    /// pip options the install needs (`--index-url`, `--extra-index-url`, `--find-links`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pip_options: Vec<String>,
    /// For user-managed environments: what the interpreter had (`pip freeze`); nothing is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_managed: Option<UserManagedLock>,
    /// The container base image, pinned by digest (see the module documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_image: Option<LockedImage>,
}

/// A container image pinned by its manifest digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockedImage {
    /// The reference as the definition or the command line gave it.
    pub reference: String,
    /// `sha256:...` of the image manifest.
    pub digest: String,
}

/// Where the interpreter comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockedPython {
    /// The full version, e.g. `3.11.7`.
    pub version: String,
    /// `conda` (a package in `conda`) or `system` (an installed interpreter of that version).
    pub source: PythonSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PythonSource {
    Conda,
    System,
}

/// One conda package, exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CondaLockedPackage {
    pub name: String,
    pub version: String,
    pub build: String,
    /// The channel as given in the definition (name or URL).
    pub channel: String,
    pub subdir: String,
    /// Where the package file is fetched from.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<String>,
    /// The build number from repodata (written into the prefix's `conda-meta` record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<u64>,
    /// `python` or `generic` for noarch packages; the installer needs it to place the files of
    /// noarch Python packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noarch: Option<String>,
}

/// One Python package from an index, a URL or the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PypiLockedPackage {
    /// Normalised name (PEP 503).
    pub name: String,
    pub version: String,
    /// `index` (with `index_url`), `url`, or `wheel` (a `strata://wheels/...` reference).
    pub source: PypiSource,
    /// Accepted sha256 digests of the distribution files (any one may be installed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PypiSource {
    Index { url: String },
    Url { url: String },
    Wheel { uri: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserManagedLock {
    pub interpreter: String,
    pub python_version: String,
    pub freeze: Vec<String>,
}

impl Lock {
    /// The lock hash (64 hex digits) of the canonical form.
    pub fn hash(&self) -> String {
        let mut canonical = self.clone();
        canonical.base_image = None;
        canonical.conda.sort_by(|a, b| a.name.cmp(&b.name));
        canonical.pypi.sort_by(|a, b| a.name.cmp(&b.name));
        for package in &mut canonical.pypi {
            package.hashes.sort();
        }
        let text = serde_json::to_string(&canonical).unwrap_or_default();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// How two locks differ, package by package: `(name, old version, new version)`, with `None`
/// for a package only one side has.
pub fn lock_diff(old: &Lock, new: &Lock) -> Vec<(String, Option<String>, Option<String>)> {
    let versions = |lock: &Lock| -> std::collections::BTreeMap<String, String> {
        let mut map: std::collections::BTreeMap<String, String> = lock
            .conda
            .iter()
            .map(|p| {
                (
                    format!("conda:{}", p.name),
                    format!("{}={}", p.version, p.build),
                )
            })
            .collect();
        map.extend(
            lock.pypi
                .iter()
                .map(|p| (format!("pypi:{}", p.name), p.version.clone())),
        );
        if let Some(python) = &lock.python {
            map.insert("python".to_string(), python.version.clone());
        }
        map
    };
    let (old, new) = (versions(old), versions(new));
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| old.get(*name) != new.get(*name))
        .map(|name| (name.clone(), old.get(name).cloned(), new.get(name).cloned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str) -> PypiLockedPackage {
        PypiLockedPackage {
            name: name.to_string(),
            version: "1.0".to_string(),
            source: PypiSource::Index {
                url: "https://pypi.org/simple".to_string(),
            },
            hashes: vec!["b".to_string(), "a".to_string()],
        }
    }

    #[test]
    fn hash_ignores_package_order() {
        let mut lock = Lock {
            version: LOCK_FORMAT_VERSION,
            platform: "linux-64".to_string(),
            python: None,
            conda: Vec::new(),
            pypi: vec![package("six"), package("attrs")],
            pip_options: Vec::new(),
            user_managed: None,
            base_image: None,
        };
        let first = lock.hash();
        lock.base_image = Some(LockedImage {
            reference: "debian:bookworm".to_string(),
            digest: "sha256:00".to_string(),
        });
        assert_eq!(
            first,
            lock.hash(),
            "the base image pin is not part of the hash"
        );
        lock.pypi.reverse();
        assert_eq!(first, lock.hash());
        lock.pypi[0].version = "2.0".to_string();
        assert_ne!(first, lock.hash());
        let parsed: Lock = serde_json::from_str(&lock.to_json()).unwrap();
        assert_eq!(parsed, lock);
    }
}
