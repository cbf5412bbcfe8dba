//! The environment definition: every field of Azure ML's `azureml_environment.json`, plus the
//! conda specification and the few v2-only fields (description, tags, inference routes).

mod model;
mod v1;

pub use model::{
    BuildContext, ContainerRegistry, CranPackage, DatabricksSection, DockerSection, Environment,
    GithubPackage, Metadata, Platform, PythonSection, RSection, RegistryIdentity, SparkPackage,
    SparkSection,
};
pub use v1::{
    AZUREML_ENVIRONMENT_JSON, BASE_DOCKERFILE, CONDA_DEPENDENCIES_YML, V1Files, read_v1_dir,
    write_v1_dir,
};
