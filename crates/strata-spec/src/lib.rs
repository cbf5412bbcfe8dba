//! Environment definitions: every file format Strata reads and writes, the canonical form and
//! the spec hash.

pub use conda::{CondaDependencies, CondaDependency, CondaSpec};
pub use conda_prefix::read_conda_prefix;
pub use credentials::{is_variable_reference, mask_url_credentials};
pub use curated::{DEFAULT_ENVIRONMENT, curated_environments, is_curated_name};
pub use diff::{Change, EnvironmentDiff};
pub use environment::{
    AZUREML_ENVIRONMENT_JSON, BASE_DOCKERFILE, BuildContext, CONDA_DEPENDENCIES_YML,
    ContainerRegistry, CranPackage, DatabricksSection, DockerSection, Environment, GithubPackage,
    Metadata, Platform, PythonSection, RSection, RegistryIdentity, SparkPackage, SparkSection,
    V1Files, read_v1_dir, write_v1_dir,
};
pub use error::{Location, Parsed, Source, SpecError};
pub use fs::{
    MAX_DEFINITION_FILE_BYTES, atomic_write, read_definition_file, read_optional_definition_file,
};
pub use hash::{SpecHash, canonical_form};
pub use lock::{
    CondaLockedPackage, LOCK_FORMAT_VERSION, Lock, LockedImage, LockedPython, PypiLockedPackage,
    PypiSource, PythonSource, UserManagedLock, lock_diff,
};
pub use match_spec::MatchSpec;
pub use naming::{EnvironmentRef, EnvironmentVersion, validate_name};
pub use pip::{PipEntry, normalize_name};
pub use requirements::{parse_requirements, read_requirements_file};
pub use sources::DEFAULT_PYTHON_VERSION;
pub use text::decode_text;
pub use v2::{V2Environment, parse_v2, read_v2_file};

mod conda;
mod conda_prefix;
mod credentials;
mod curated;
mod diff;
mod environment;
mod error;
mod fs;
mod hash;
mod lock;
mod match_spec;
mod naming;
mod pip;
mod python_json;
mod requirements;
mod sources;
mod text;
mod v2;
mod yaml;
