//! The spec hash: sha256 of the canonical form of everything that decides which software an
//! environment holds.
//!
//! Canonical form, version 1 (changing it changes every hash: bump the version line):
//!
//! ```text
//! strata-spec-hash-v1
//! {"docker":{...},"python":{...},"spark":{...},"r":{...}}
//! ```
//!
//! compact JSON, keys in this order, each section and field left out when it holds its default:
//! - `docker`: `baseImage`, `baseDockerfile` (line endings normalised to `\n`), `buildContext`
//!   (`locationType`, `location`, `dockerfilePath`), `platform` (`os`, `architecture`, left out
//!   when `Linux`/`amd64`).
//! - `python`: `userManagedDependencies` and `interpreterPath` when user-managed (the conda
//!   specification is then unused and left out); otherwise `channels`, `conda` (match specs)
//!   and `pip` (options and requirements, comments and blank entries dropped, runs of
//!   whitespace collapsed). **Order is kept**: the order of channels and dependencies can change
//!   what a solver picks.
//! - `spark`: `repositories`, `packages`; `r`: the R section as written.
//!
//! Left out: name, version, description, tags, environment variables, asset id, the conda
//! environment's `name`/`prefix`/`variables`, deprecated runtime settings (`docker.enabled`,
//! `sharedVolumes`, `shmSize`, `arguments`), registry credentials, and unknown keys.

use std::fmt;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::conda::CondaDependency;
use crate::environment::Environment;
use crate::pip::PipEntry;

const HEADER: &str = "strata-spec-hash-v1\n";

/// A spec hash (64 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpecHash(String);

impl SpecHash {
    pub fn of(environment: &Environment) -> Self {
        let digest = Sha256::digest(canonical_form(environment).as_bytes());
        Self(hex::encode(digest))
    }

    pub fn from_hex(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 32 hex digits, used to name prefixes and images (`strata/env_<hash32>`).
    pub fn short(&self) -> &str {
        &self.0[..32.min(self.0.len())]
    }
}

impl fmt::Display for SpecHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The canonical text the spec hash is computed from (see the module documentation).
pub fn canonical_form(environment: &Environment) -> String {
    let mut root = Map::new();

    let docker = &environment.docker;
    let mut docker_map = Map::new();
    if let Some(image) = non_empty(docker.base_image.as_deref()) {
        docker_map.insert("baseImage".into(), json!(image.trim()));
    }
    if let Some(dockerfile) = non_empty(docker.base_dockerfile.as_deref()) {
        docker_map.insert(
            "baseDockerfile".into(),
            json!(normalize_newlines(dockerfile)),
        );
    }
    if let Some(context) = &docker.build_context {
        docker_map.insert(
            "buildContext".into(),
            json!({
                "locationType": context.location_type,
                "location": context.location,
                "dockerfilePath": context.dockerfile_path,
            }),
        );
    }
    if !docker.platform.is_default() {
        docker_map.insert(
            "platform".into(),
            json!({"os": docker.platform.os, "architecture": docker.platform.architecture}),
        );
    }
    if !docker_map.is_empty() {
        root.insert("docker".into(), Value::Object(docker_map));
    }

    let python = &environment.python;
    let mut python_map = Map::new();
    if python.user_managed_dependencies {
        python_map.insert("userManagedDependencies".into(), json!(true));
        python_map.insert(
            "interpreterPath".into(),
            json!(python.interpreter_path.trim()),
        );
    } else if let Some(conda) = environment.conda() {
        let channels: Vec<String> = conda.channels.iter().map(|c| collapse(c)).collect();
        let mut conda_specs = Vec::new();
        let mut pip = Vec::new();
        for dependency in &conda.dependencies {
            match dependency {
                CondaDependency::Conda(spec) => conda_specs.push(collapse(spec)),
                CondaDependency::Pip(entries) => {
                    for entry in entries {
                        match PipEntry::classify(entry) {
                            Ok(PipEntry::Requirement { text, .. }) => {
                                pip.push(crate::pip::canonical_requirement(&text));
                            }
                            Ok(PipEntry::Option(text)) => pip.push(text),
                            Ok(PipEntry::Ignored) => {}
                            // Invalid entries are refused on read; hash them verbatim anyway.
                            Err(_) => pip.push(collapse(entry)),
                        }
                    }
                }
            }
        }
        if !channels.is_empty() {
            python_map.insert("channels".into(), json!(channels));
        }
        if !conda_specs.is_empty() {
            python_map.insert("conda".into(), json!(conda_specs));
        }
        if !pip.is_empty() {
            python_map.insert("pip".into(), json!(pip));
        }
    }
    if !python_map.is_empty() {
        root.insert("python".into(), Value::Object(python_map));
    }

    // A `null` list and an empty one mean the same software.
    let spark = &environment.spark;
    let repositories = spark.repositories.as_deref().unwrap_or_default();
    let spark_packages = spark.packages.as_deref().unwrap_or_default();
    if !repositories.is_empty() || !spark_packages.is_empty() {
        let packages: Vec<Value> = spark_packages
            .iter()
            .map(|p| json!({"group": p.group, "artifact": p.artifact, "version": p.version}))
            .collect();
        root.insert(
            "spark".into(),
            json!({"repositories": repositories, "packages": packages}),
        );
    }
    if let Some(r) = &environment.r {
        let mut r = r.clone();
        r.extra.clear();
        for list in [&mut r.custom_url_packages, &mut r.bioconductor_packages] {
            list.get_or_insert_default();
        }
        r.cran_packages.get_or_insert_default();
        r.github_packages.get_or_insert_default();
        root.insert("r".into(), serde_json::to_value(r).unwrap_or(Value::Null));
    }

    let mut out = String::from(HEADER);
    out.push_str(&Value::Object(root).to_string());
    out
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
