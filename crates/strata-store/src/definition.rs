//! A definition as stored and as the REST API sends it.

use serde::{Deserialize, Serialize};
use strata_spec::{Environment, Metadata, SpecHash, V1Files};

use crate::environments::{EnvironmentRecord, EnvironmentSummary};
use crate::error::StoreError;

/// A definition as stored and sent between client and server: the v1 files plus v2-only
/// metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionDocument {
    pub environment_json: String,
    pub conda_dependencies: Option<String>,
    pub base_dockerfile: Option<String>,
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
}

impl DefinitionDocument {
    pub fn of(environment: &Environment) -> Self {
        let files = environment.to_v1_files();
        Self {
            environment_json: files.environment_json,
            conda_dependencies: files.conda_dependencies,
            base_dockerfile: files.base_dockerfile,
            metadata: environment.metadata.clone(),
        }
    }

    /// The definition again; `what` names it in errors.
    pub fn to_environment(&self, what: &str) -> Result<Environment, StoreError> {
        let files = V1Files {
            environment_json: self.environment_json.clone(),
            conda_dependencies: self.conda_dependencies.clone(),
            base_dockerfile: self.base_dockerfile.clone(),
        };
        let mut environment =
            Environment::from_v1_files(&files, &format!("<stored {what}>"))?.value;
        environment.metadata = self.metadata.clone();
        Ok(environment)
    }

    pub fn to_json(&self, what: &str) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|source| StoreError::CorruptRecord {
            what: what.to_string(),
            source,
        })
    }

    pub fn from_json(text: &str, what: &str) -> Result<Self, StoreError> {
        serde_json::from_str(text).map_err(|source| StoreError::CorruptRecord {
            what: what.to_string(),
            source,
        })
    }
}

/// An environment version as the REST API sends it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentDocument {
    #[serde(flatten)]
    pub summary: EnvironmentSummary,
    pub definition: DefinitionDocument,
}

impl EnvironmentDocument {
    pub fn of(record: &EnvironmentRecord) -> Self {
        Self {
            summary: record.summary.clone(),
            definition: DefinitionDocument::of(&record.environment),
        }
    }

    pub fn into_record(self) -> Result<EnvironmentRecord, StoreError> {
        let what = format!("{}:{}", self.summary.name, self.summary.version);
        let environment = self.definition.to_environment(&what)?;
        Ok(EnvironmentRecord {
            name: self.summary.name.clone(),
            version: self.summary.version.clone(),
            spec_hash: SpecHash::from_hex(self.summary.spec_hash.clone()),
            environment,
            summary: self.summary,
        })
    }
}
