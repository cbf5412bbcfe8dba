//! Azure ML v2 environment YAML (`az ml environment create --file env.yml`).

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_yaml_ng::{Mapping, Value};

use crate::conda::{CondaDependencies, CondaSpec};
use crate::environment::{Environment, Metadata};
use crate::error::{Parsed, Source, SpecError, locate};

const KEYS: [&str; 12] = [
    "$schema",
    "name",
    "version",
    "description",
    "tags",
    "properties",
    "image",
    "conda_file",
    "build",
    "os_type",
    "inference_config",
    "datastore",
];

/// A v2 definition read from a file. A local `build.path` directory is returned separately:
/// the workspace stores its content and records a reference to it in the definition.
#[derive(Debug, Clone, PartialEq)]
pub struct V2Environment {
    pub environment: Environment,
    pub build_dir: Option<PathBuf>,
}

/// Reads an Azure ML v2 environment YAML file.
pub fn read_v2_file(path: &Path) -> Result<Parsed<V2Environment>, SpecError> {
    let text = crate::fs::read_definition_file(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_v2(&text, &path.display().to_string(), base)
}

/// Parses v2 YAML; relative `conda_file` and `build.path` are resolved against `base`.
pub fn parse_v2(text: &str, label: &str, base: &Path) -> Result<Parsed<V2Environment>, SpecError> {
    let value = crate::yaml::parse_yaml(text, label)?;
    let Value::Mapping(mapping) = value else {
        return Err(SpecError::invalid(
            Source::file(label),
            "expected a mapping",
        ));
    };
    let at = |key: &str| {
        Source::file(label)
            .at(locate(text, &format!("{key}:")))
            .field(key)
    };
    // Strings are strings, as Azure ML's schema has them: `name: 12345` or `image: 5` is a
    // mistake to point at, not a value to convert.
    let string = |key: &str| -> Result<Option<String>, SpecError> {
        match mapping.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(SpecError::invalid(at(key), expected_string(other))),
        }
    };
    // Versions are strings in Azure ML, and it accepts numbers for them (`version: 1`).
    let version = || -> Result<Option<String>, SpecError> {
        match mapping.get("version") {
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            _ => string("version"),
        }
    };
    let string_map = |key: &str| -> Result<IndexMap<String, String>, SpecError> {
        match mapping.get(key) {
            None | Some(Value::Null) => Ok(IndexMap::new()),
            Some(Value::Mapping(m)) => m
                .iter()
                .map(|(k, v)| {
                    let Some(name) = k.as_str() else {
                        return Err(SpecError::invalid(
                            at(key),
                            "expected a mapping with string keys",
                        ));
                    };
                    let field = || {
                        Source::file(label)
                            .at(locate(text, &format!("{name}:")))
                            .field(format!("{key}.{name}"))
                    };
                    match v {
                        Value::String(s) => Ok((name.to_string(), s.clone())),
                        other => Err(SpecError::invalid(field(), expected_string(other))),
                    }
                })
                .collect(),
            Some(_) => Err(SpecError::invalid(at(key), "expected a mapping")),
        }
    };

    if mapping.contains_key("channels") || mapping.contains_key("dependencies") {
        return Err(SpecError::invalid(
            at(if mapping.contains_key("channels") {
                "channels"
            } else {
                "dependencies"
            }),
            "this looks like a conda file, not an environment definition: register it with `--conda-file`, or reference it from `conda_file:`",
        ));
    }
    let mut warnings = Vec::new();
    let mut extra = IndexMap::new();
    for (key, value) in &mapping {
        if let Some(key) = key.as_str().filter(|key| !KEYS.contains(key)) {
            extra.insert(
                key.to_string(),
                serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
            );
        }
    }
    if !extra.is_empty() {
        let keys: Vec<String> = extra.keys().map(|key| format!("`{key}`")).collect();
        warnings.push(format!(
            "`{label}` has unknown keys {}; they are kept as they are but Strata does not use them",
            keys.join(", ")
        ));
    }

    // The name may come from the command line instead; callers check that there is one.
    let name = string("name")?.unwrap_or_default();
    let image = string("image")?;
    let build = mapping.get("build").filter(|v| !v.is_null());
    let has_conda = mapping.get("conda_file").is_some_and(|v| !v.is_null());
    match (&image, build) {
        // Azure ML needs an image; a local build does not when there are packages to install.
        (None, None) if !has_conda => {
            return Err(SpecError::invalid(
                Source::file(label),
                "a Docker image (`image`), a Dockerfile (`build`) or a conda file (`conda_file`) is required",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(SpecError::invalid(
                at("build"),
                "give `image` or `build`, not both",
            ));
        }
        _ => {}
    }

    let conda = match mapping.get("conda_file") {
        None | Some(Value::Null) => None,
        Some(Value::String(file)) => {
            let path = base.join(file);
            let conda_text = crate::fs::read_definition_file(&path)?;
            let parsed =
                CondaDependencies::parse_with_warnings(&conda_text, &path.display().to_string())?;
            warnings.extend(parsed.warnings);
            Some(parsed.value)
        }
        Some(inline @ Value::Mapping(_)) => {
            let conda_text = serde_yaml_ng::to_string(inline).unwrap_or_default();
            let parsed =
                CondaSpec::parse_with_warnings(&conda_text, &format!("{label} (conda_file)"))?;
            warnings.extend(parsed.warnings);
            Some(CondaDependencies::from_spec(parsed.value))
        }
        Some(_) => {
            return Err(SpecError::invalid(
                at("conda_file"),
                "expected a file path or a mapping",
            ));
        }
    };

    let mut build_dir = None;
    let mut environment = if let Some(image) = &image {
        let (environment, more) = Environment::from_docker_image(&name, image, conda);
        warnings.extend(more);
        environment
    } else if build.is_none() {
        let Some(conda) = conda else {
            return Err(SpecError::invalid(
                at("conda_file"),
                "expected a conda file",
            ));
        };
        let (environment, more) = Environment::from_conda_dependencies(&name, conda);
        warnings.extend(more);
        environment
    } else {
        let Some(Value::Mapping(build)) = build else {
            return Err(SpecError::invalid(
                at("build"),
                "expected a mapping with `path`",
            ));
        };
        let build_field = |key: &str| -> Result<Option<String>, SpecError> {
            match build.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(SpecError::invalid(
                    Source::file(label)
                        .at(locate(text, &format!("{key}:")))
                        .field(format!("build.{key}")),
                    expected_string(other),
                )),
            }
        };
        let path = build_field("path")?
            .ok_or_else(|| SpecError::invalid(at("build"), "`build.path` is required"))?;
        let dockerfile_path =
            build_field("dockerfile_path")?.unwrap_or_else(|| "Dockerfile".to_string());
        if path.contains("://") {
            let (mut environment, more) = Environment::from_dockerfile(&name, "", conda);
            warnings.extend(more);
            environment.docker.base_dockerfile = None;
            environment.docker.build_context = Some(crate::BuildContext {
                location_type: if path.starts_with("strata://") {
                    "strata"
                } else if path.starts_with("git") {
                    "git"
                } else {
                    "storageAccount"
                }
                .to_string(),
                location: path,
                dockerfile_path,
                extra: IndexMap::new(),
            });
            environment
        } else {
            let dir = base.join(&path);
            if !dir.join(&dockerfile_path).is_file() {
                return Err(SpecError::invalid(
                    at("build"),
                    format!("`{}` has no `{dockerfile_path}`", dir.display()),
                ));
            }
            build_dir = Some(dir);
            let (mut environment, more) = Environment::from_dockerfile(&name, "", conda);
            warnings.extend(more);
            environment.docker.base_dockerfile = None;
            environment.docker.build_context = Some(crate::BuildContext {
                location_type: "local".to_string(),
                location: path,
                dockerfile_path,
                extra: IndexMap::new(),
            });
            environment
        }
    };
    environment.version = version()?;
    environment.metadata = Metadata {
        description: string("description")?,
        tags: string_map("tags")?,
        properties: string_map("properties")?,
        os_type: string("os_type")?,
        inference_config: match mapping.get("inference_config") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                serde_json::to_value(value)
                    .map_err(|e| SpecError::invalid(at("inference_config"), e.to_string()))?,
            ),
        },
        extra,
    };
    Ok(Parsed {
        value: V2Environment {
            environment,
            build_dir,
        },
        warnings,
    })
}

/// "expected a string, found the number `5`" and the like.
fn expected_string(value: &Value) -> String {
    match value {
        Value::Number(n) => format!("expected a string, found the number `{n}` (quote it)"),
        Value::Bool(b) => format!("expected a string, found the boolean `{b}` (quote it)"),
        Value::Sequence(_) => "expected a string, found a list".to_string(),
        Value::Mapping(_) => "expected a string, found a mapping".to_string(),
        Value::Null => "expected a string, found null".to_string(),
        Value::String(_) | Value::Tagged(_) => "expected a string".to_string(),
    }
}

impl Environment {
    /// The v2 YAML of this definition, keys sorted as `Environment.dump()` writes them.
    pub fn to_v2_yaml(&self) -> String {
        let mut map = Mapping::new();
        let mut put = |key: &str, value: Value| {
            map.insert(Value::String(key.to_string()), value);
        };
        if let Some(build) = &self.docker.build_context {
            let mut b = Mapping::new();
            b.insert(
                "dockerfile_path".into(),
                build.dockerfile_path.clone().into(),
            );
            b.insert("path".into(), build.location.clone().into());
            put("build", Value::Mapping(b));
        }
        if !self.python.user_managed_dependencies
            && let Some(conda) = &self.python.conda_dependencies
        {
            let value: Value = serde_yaml_ng::from_str(&conda.spec.to_yaml()).unwrap_or_default();
            put("conda_file", sort_keys(value));
        }
        if let Some(description) = &self.metadata.description {
            put("description", description.clone().into());
        }
        if let Some(image) = &self.docker.base_image {
            put("image", image.clone().into());
        }
        if let Some(config) = &self.metadata.inference_config {
            put(
                "inference_config",
                serde_yaml_ng::to_value(config).unwrap_or_default(),
            );
        }
        if let Some(name) = &self.name {
            put("name", name.clone().into());
        }
        if let Some(os_type) = &self.metadata.os_type {
            put("os_type", os_type.clone().into());
        }
        if !self.metadata.properties.is_empty() {
            put(
                "properties",
                serde_yaml_ng::to_value(&self.metadata.properties).unwrap_or_default(),
            );
        }
        put(
            "tags",
            serde_yaml_ng::to_value(&self.metadata.tags).unwrap_or_default(),
        );
        if let Some(version) = &self.version {
            put("version", version.clone().into());
        }
        for (key, value) in &self.metadata.extra {
            put(key, serde_yaml_ng::to_value(value).unwrap_or_default());
        }
        serde_yaml_ng::to_string(&Value::Mapping(map)).unwrap_or_default()
    }
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Mapping(mapping) => {
            let mut entries: Vec<(Value, Value)> = mapping
                .into_iter()
                .map(|(k, v)| (k, sort_keys(v)))
                .collect();
            entries.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
            Value::Mapping(entries.into_iter().collect())
        }
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}
