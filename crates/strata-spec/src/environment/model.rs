use indexmap::IndexMap;
use serde::Serialize;
use serde::de::{Deserialize, Deserializer};
use serde_json::Value;

use crate::conda::CondaDependencies;

/// An environment definition (Azure ML's `Environment`). Field order is the order Azure ML
/// writes; unknown keys are kept in `extra` at each level and written back after the known ones.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// A string: Azure ML raises `TypeError` for any other name, so `"name": 12345` is refused.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub version: Option<String>,
    /// `None` when the file has `null` (kept as written); see [`Environment::variables`].
    #[serde(default = "empty_map")]
    pub environment_variables: Option<IndexMap<String, String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub python: PythonSection,
    #[serde(default, deserialize_with = "null_as_default")]
    pub docker: DockerSection,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spark: SparkSection,
    #[serde(default, deserialize_with = "null_as_default")]
    pub databricks: DatabricksSection,
    #[serde(default)]
    pub r: Option<RSection>,
    #[serde(default)]
    pub inferencing_stack_version: Option<String>,
    #[serde(default)]
    pub asset_id: Option<String>,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
    /// Fields from Azure ML v2 YAML that have no place in the v1 JSON.
    #[serde(skip)]
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PythonSection {
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_managed_dependencies: bool,
    #[serde(
        default = "default_interpreter",
        deserialize_with = "null_as_interpreter"
    )]
    pub interpreter_path: String,
    #[serde(default)]
    pub conda_dependencies_file: Option<String>,
    #[serde(default)]
    pub base_conda_environment: Option<String>,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
    /// `conda_dependencies.yml`; lives in its own file, never in the JSON.
    #[serde(skip)]
    pub conda_dependencies: Option<CondaDependencies>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerSection {
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled: bool,
    #[serde(default)]
    pub base_image: Option<String>,
    /// Dockerfile text. In a v1 directory it is the `BaseDockerfile` file, and the key is left
    /// out of the JSON when it has a value.
    #[serde(default, skip_serializing_if = "Option::is_some")]
    pub base_dockerfile: Option<String>,
    #[serde(default)]
    pub build_context: Option<BuildContext>,
    #[serde(default = "default_true", deserialize_with = "null_as_true")]
    pub shared_volumes: bool,
    #[serde(default)]
    pub shm_size: Option<String>,
    #[serde(default = "empty_list")]
    pub arguments: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub base_image_registry: ContainerRegistry,
    #[serde(default, deserialize_with = "null_as_default")]
    pub platform: Platform,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildContext {
    pub location_type: String,
    pub location: String,
    #[serde(default = "default_dockerfile_path")]
    pub dockerfile_path: String,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRegistry {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub registry_identity: Option<RegistryIdentity>,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryIdentity {
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    #[serde(default = "default_os")]
    pub os: String,
    #[serde(default = "default_architecture")]
    pub architecture: String,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SparkSection {
    #[serde(default = "empty_list")]
    pub repositories: Option<Vec<String>>,
    #[serde(default = "empty_list")]
    pub packages: Option<Vec<SparkPackage>>,
    #[serde(default = "default_true", deserialize_with = "null_as_true")]
    pub precache_packages: bool,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SparkPackage {
    pub group: String,
    pub artifact: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

/// Databricks libraries: preserved as written; Strata does not install them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabricksSection {
    #[serde(default = "empty_list")]
    pub maven_libraries: Option<Vec<Value>>,
    #[serde(default = "empty_list")]
    pub pypi_libraries: Option<Vec<Value>>,
    #[serde(default = "empty_list")]
    pub rcran_libraries: Option<Vec<Value>>,
    #[serde(default = "empty_list")]
    pub jar_libraries: Option<Vec<Value>>,
    #[serde(default = "empty_list")]
    pub egg_libraries: Option<Vec<Value>>,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

/// The R section: preserved and hashed; Strata does not install R packages.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RSection {
    #[serde(default)]
    pub r_version: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_managed: bool,
    #[serde(default)]
    pub rscript_path: Option<String>,
    #[serde(default)]
    pub snapshot_date: Option<String>,
    #[serde(default = "empty_list")]
    pub cran_packages: Option<Vec<CranPackage>>,
    #[serde(default = "empty_list")]
    pub github_packages: Option<Vec<GithubPackage>>,
    #[serde(default = "empty_list")]
    pub custom_url_packages: Option<Vec<String>>,
    #[serde(default = "empty_list")]
    pub bioconductor_packages: Option<Vec<String>>,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CranPackage {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GithubPackage {
    pub repository: String,
    #[serde(default)]
    pub auth_token: Option<String>,
    #[serde(flatten, skip_deserializing)]
    pub extra: IndexMap<String, Value>,
}

/// Fields of Azure ML v2 environments that v1 directories cannot hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tags: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub properties: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<Value>,
    /// Unknown top-level keys of a v2 file, kept and written back.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub extra: IndexMap<String, Value>,
}

impl Metadata {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

impl Default for PythonSection {
    fn default() -> Self {
        Self {
            user_managed_dependencies: false,
            interpreter_path: default_interpreter(),
            conda_dependencies_file: None,
            base_conda_environment: None,
            extra: IndexMap::new(),
            conda_dependencies: None,
        }
    }
}

impl Default for DockerSection {
    fn default() -> Self {
        Self {
            enabled: false,
            base_image: None,
            base_dockerfile: None,
            build_context: None,
            shared_volumes: true,
            shm_size: None,
            arguments: Some(Vec::new()),
            base_image_registry: ContainerRegistry::default(),
            platform: Platform::default(),
            extra: IndexMap::new(),
        }
    }
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            os: default_os(),
            architecture: default_architecture(),
            extra: IndexMap::new(),
        }
    }
}

impl Platform {
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

impl Default for SparkSection {
    fn default() -> Self {
        Self {
            repositories: Some(Vec::new()),
            packages: Some(Vec::new()),
            precache_packages: true,
            extra: IndexMap::new(),
        }
    }
}

impl Default for DatabricksSection {
    fn default() -> Self {
        Self {
            maven_libraries: Some(Vec::new()),
            pypi_libraries: Some(Vec::new()),
            rcran_libraries: Some(Vec::new()),
            jar_libraries: Some(Vec::new()),
            egg_libraries: Some(Vec::new()),
            extra: IndexMap::new(),
        }
    }
}

impl Default for RSection {
    fn default() -> Self {
        Self {
            r_version: None,
            user_managed: false,
            rscript_path: None,
            snapshot_date: None,
            cran_packages: Some(Vec::new()),
            github_packages: Some(Vec::new()),
            custom_url_packages: Some(Vec::new()),
            bioconductor_packages: Some(Vec::new()),
            extra: IndexMap::new(),
        }
    }
}

impl Environment {
    /// An empty definition with Azure ML's load defaults (what a missing key means).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            version: None,
            environment_variables: Some(IndexMap::new()),
            python: PythonSection::default(),
            docker: DockerSection::default(),
            spark: SparkSection::default(),
            databricks: DatabricksSection::default(),
            r: None,
            inferencing_stack_version: None,
            asset_id: None,
            extra: IndexMap::new(),
            metadata: Metadata::default(),
        }
    }

    /// The environment variables to set (none when the file has `null`).
    pub fn variables(&self) -> impl Iterator<Item = (&String, &String)> {
        self.environment_variables.iter().flatten()
    }

    /// The environment variables, to change.
    pub fn variables_mut(&mut self) -> &mut IndexMap<String, String> {
        self.environment_variables.get_or_insert_default()
    }

    /// The conda specification, if the definition has one.
    pub fn conda(&self) -> Option<&crate::conda::CondaSpec> {
        self.python.conda_dependencies.as_ref().map(|c| &c.spec)
    }

    /// The dict Azure ML's `repr()` and `register()` use: the JSON with the conda
    /// specification inline under `python.condaDependencies` and `docker.baseDockerfile` kept.
    pub fn to_azure_dict(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(conda) = &self.python.conda_dependencies
            && let Some(python) = value.get_mut("python").and_then(Value::as_object_mut)
        {
            let yaml: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(&conda.to_yaml()).unwrap_or_default();
            python.insert(
                "condaDependencies".to_string(),
                serde_json::to_value(yaml).unwrap_or(Value::Null),
            );
        }
        if let Some(docker) = value.get_mut("docker").and_then(Value::as_object_mut)
            && !docker.contains_key("baseDockerfile")
        {
            // Keep the documented key order: baseDockerfile right after baseImage.
            let mut ordered = serde_json::Map::new();
            for (key, entry) in std::mem::take(docker) {
                let is_image = key == "baseImage";
                ordered.insert(key, entry);
                if is_image {
                    ordered.insert(
                        "baseDockerfile".to_string(),
                        self.docker
                            .base_dockerfile
                            .clone()
                            .map_or(Value::Null, Value::String),
                    );
                }
            }
            *docker = ordered;
        }
        value
    }
}

fn default_interpreter() -> String {
    "python".to_string()
}

fn default_dockerfile_path() -> String {
    "Dockerfile".to_string()
}

fn default_os() -> String {
    "Linux".to_string()
}

fn default_architecture() -> String {
    "amd64".to_string()
}

/// What a missing list means: an empty one. A `null` list stays `None`, so it is written back
/// as `null` (the SDK writes both, and a round trip keeps each as it was).
#[expect(
    clippy::unnecessary_wraps,
    reason = "serde's `default` needs a function returning the field's type"
)]
fn empty_list<T>() -> Option<Vec<T>> {
    Some(Vec::new())
}

#[expect(
    clippy::unnecessary_wraps,
    reason = "serde's `default` needs a function returning the field's type"
)]
fn empty_map() -> Option<IndexMap<String, String>> {
    Some(IndexMap::new())
}

const fn default_true() -> bool {
    true
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn null_as_true<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

fn null_as_interpreter<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_else(default_interpreter))
}

/// Azure ML writes versions as strings; v2 files and people write numbers too.
fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged, expecting = "a string or a number")]
    enum Either {
        String(String),
        Number(serde_json::Number),
    }
    Ok(
        Option::<Either>::deserialize(deserializer)?.map(|either| match either {
            Either::String(s) => s,
            Either::Number(n) => n.to_string(),
        }),
    )
}
