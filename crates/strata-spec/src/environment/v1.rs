//! Azure ML v1 environment directories: `azureml_environment.json`, `conda_dependencies.yml`
//! and an optional `BaseDockerfile`, written byte-for-byte the way the Azure ML SDK writes them.

use std::io;
use std::path::Path;

use serde_json::Value;

use super::model::Environment;
use crate::conda::CondaDependencies;
use crate::error::{Location, Parsed, Source, SpecError};
use crate::python_json;

pub const AZUREML_ENVIRONMENT_JSON: &str = "azureml_environment.json";
pub const CONDA_DEPENDENCIES_YML: &str = "conda_dependencies.yml";
pub const BASE_DOCKERFILE: &str = "BaseDockerfile";

/// The files of a v1 environment directory, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Files {
    pub environment_json: String,
    pub conda_dependencies: Option<String>,
    pub base_dockerfile: Option<String>,
}

/// Known keys per JSON object, to warn about the rest.
const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "name",
            "version",
            "environmentVariables",
            "python",
            "docker",
            "spark",
            "databricks",
            "r",
            "inferencingStackVersion",
            "assetId",
        ],
    ),
    (
        "python",
        &[
            "userManagedDependencies",
            "interpreterPath",
            "condaDependenciesFile",
            "baseCondaEnvironment",
            "condaDependencies",
        ],
    ),
    (
        "docker",
        &[
            "enabled",
            "baseImage",
            "baseDockerfile",
            "buildContext",
            "sharedVolumes",
            "shmSize",
            "arguments",
            "baseImageRegistry",
            "platform",
        ],
    ),
    (
        "docker.buildContext",
        &["locationType", "location", "dockerfilePath"],
    ),
    (
        "docker.baseImageRegistry",
        &["address", "username", "password", "registryIdentity"],
    ),
    (
        "docker.baseImageRegistry.registryIdentity",
        &["resourceId", "clientId"],
    ),
    ("docker.platform", &["os", "architecture"]),
    ("spark", &["repositories", "packages", "precachePackages"]),
    (
        "databricks",
        &[
            "mavenLibraries",
            "pypiLibraries",
            "rcranLibraries",
            "jarLibraries",
            "eggLibraries",
        ],
    ),
    (
        "r",
        &[
            "rVersion",
            "userManaged",
            "rscriptPath",
            "snapshotDate",
            "cranPackages",
            "githubPackages",
            "customUrlPackages",
            "bioconductorPackages",
        ],
    ),
];

impl Environment {
    /// Reads the files of a v1 directory. `label` names the directory in messages.
    pub fn from_v1_files(files: &V1Files, label: &str) -> Result<Parsed<Self>, SpecError> {
        let json_label = join_label(label, AZUREML_ENVIRONMENT_JSON);
        let text = files.environment_json.as_str();
        let value: Value =
            serde_json::from_str(text).map_err(|error| json_error(&json_label, &error, None))?;
        if !value.is_object() {
            return Err(SpecError::invalid(
                Source::file(&json_label),
                "expected a JSON object",
            ));
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let mut environment: Self =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                let path = error.path().to_string();
                json_error(&json_label, error.inner(), Some(path))
            })?;

        let mut warnings = Vec::new();
        let mut unknown = Vec::new();
        environment.collect_extras(&value, &mut unknown);
        if !unknown.is_empty() {
            warnings.push(format!(
                "`{json_label}` has unknown keys {}; they are kept as they are but Strata does not use them (keys are case-sensitive camelCase)",
                unknown.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ));
        }

        if let Some(yaml) = &files.conda_dependencies {
            let conda_label = join_label(label, CONDA_DEPENDENCIES_YML);
            environment.python.conda_dependencies =
                Some(CondaDependencies::parse(yaml, &conda_label)?);
        } else if let Some(inline) = value
            .pointer("/python/condaDependencies")
            .filter(|v| !v.is_null())
        {
            // `az ml environment show` output carries the conda specification inline.
            let yaml = serde_yaml_ng::to_string(inline).unwrap_or_default();
            let spec = crate::conda::CondaSpec::parse(
                &yaml,
                &format!("{json_label} (python.condaDependencies)"),
            )?;
            environment.python.conda_dependencies = Some(CondaDependencies::from_spec(spec));
        }
        if let Some(dockerfile) = &files.base_dockerfile {
            environment.docker.base_dockerfile = Some(dockerfile.clone());
        }
        Ok(Parsed {
            value: environment,
            warnings,
        })
    }

    /// The files of a v1 directory, formatted as the Azure ML SDK formats them.
    pub fn to_v1_files(&self) -> V1Files {
        V1Files {
            environment_json: python_json::to_string(
                &serde_json::to_value(self).unwrap_or(Value::Null),
            ),
            conda_dependencies: self
                .python
                .conda_dependencies
                .as_ref()
                .map(CondaDependencies::to_yaml),
            base_dockerfile: self.docker.base_dockerfile.clone(),
        }
    }

    fn collect_extras(&mut self, value: &Value, unknown: &mut Vec<String>) {
        let mut take = |path: &str| -> indexmap::IndexMap<String, Value> {
            let pointer = if path.is_empty() {
                String::new()
            } else {
                format!("/{}", path.replace('.', "/"))
            };
            let Some(Value::Object(object)) = value.pointer(&pointer) else {
                return indexmap::IndexMap::new();
            };
            let known = KNOWN_KEYS
                .iter()
                .find(|(p, _)| *p == path)
                .map_or(&[][..], |(_, keys)| *keys);
            object
                .iter()
                .filter(|(key, _)| !known.contains(&key.as_str()))
                .map(|(key, entry)| {
                    unknown.push(if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    });
                    (key.clone(), entry.clone())
                })
                .collect()
        };
        self.extra = take("");
        self.python.extra = take("python");
        self.docker.extra = take("docker");
        if let Some(context) = &mut self.docker.build_context {
            context.extra = take("docker.buildContext");
        }
        self.docker.base_image_registry.extra = take("docker.baseImageRegistry");
        if let Some(identity) = &mut self.docker.base_image_registry.registry_identity {
            identity.extra = take("docker.baseImageRegistry.registryIdentity");
        }
        self.docker.platform.extra = take("docker.platform");
        self.spark.extra = take("spark");
        self.databricks.extra = take("databricks");
        if let Some(r) = &mut self.r {
            r.extra = take("r");
        }
    }
}

fn join_label(label: &str, file: &str) -> String {
    if label.is_empty() {
        file.to_string()
    } else {
        format!("{}/{file}", label.trim_end_matches('/'))
    }
}

fn json_error(label: &str, error: &serde_json::Error, path: Option<String>) -> SpecError {
    let location = (error.line() > 0).then(|| Location {
        line: error.line(),
        column: error.column(),
    });
    let mut message = error.to_string();
    if let Some(index) = message.find(" at line ") {
        message.truncate(index);
    }
    let mut source = Source::file(label).at(location);
    if let Some(path) = path.filter(|p| p != ".") {
        source = source.field(path);
    }
    SpecError::invalid(source, message)
}

/// Reads a v1 environment directory.
pub fn read_v1_dir(dir: &Path) -> Result<Parsed<Environment>, SpecError> {
    let json_path = dir.join(AZUREML_ENVIRONMENT_JSON);
    if !json_path.is_file() {
        if !dir.exists() {
            return Err(SpecError::Read {
                path: dir.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotFound, "no such directory"),
            });
        }
        return Err(SpecError::NotAnEnvironmentDirectory {
            path: dir.to_path_buf(),
        });
    }
    let read = |name: &str| crate::text::read_optional_text(&dir.join(name));
    let files = V1Files {
        environment_json: read(AZUREML_ENVIRONMENT_JSON)?.unwrap_or_default(),
        conda_dependencies: read(CONDA_DEPENDENCIES_YML)?,
        base_dockerfile: read(BASE_DOCKERFILE)?,
    };
    Environment::from_v1_files(&files, &dir.display().to_string())
}

/// Writes a v1 environment directory; an existing directory needs `overwrite`, as in Azure ML.
/// Each file is written to a temporary name and renamed, so a reader never sees half a file.
pub fn write_v1_dir(
    environment: &Environment,
    dir: &Path,
    overwrite: bool,
) -> Result<(), SpecError> {
    if dir.exists() && !overwrite {
        return Err(SpecError::DirectoryExists {
            path: dir.to_path_buf(),
        });
    }
    fs_err::create_dir_all(dir).map_err(|source| SpecError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let files = environment.to_v1_files();
    let write = |name: &str, text: Option<&str>| -> Result<(), SpecError> {
        let path = dir.join(name);
        match text {
            Some(text) => crate::atomic_write(&path, text.as_bytes()),
            None => match fs_err::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(SpecError::Write { path, source }),
            },
        }
    };
    write(CONDA_DEPENDENCIES_YML, files.conda_dependencies.as_deref())?;
    write(BASE_DOCKERFILE, files.base_dockerfile.as_deref())?;
    write(AZUREML_ENVIRONMENT_JSON, Some(&files.environment_json))?;
    Ok(())
}
