//! The part of registering that every metadata store shares: checking and hashing a
//! definition, and deciding between an existing version and a new one.

use strata_spec::{
    Environment, EnvironmentVersion, MatchSpec, SpecHash, is_variable_reference, validate_name,
};

use crate::definition::DefinitionDocument;
use crate::environments::{EnvironmentRecord, EnvironmentSummary, RegisterOptions};
use crate::error::StoreError;

/// A definition checked and hashed for registration, before any store has looked at it:
/// the part of registering that every metadata store shares.
#[derive(Debug, Clone)]
pub struct PreparedRegistration {
    pub name: String,
    pub environment: Environment,
    /// The version the definition names, if any.
    pub explicit: Option<EnvironmentVersion>,
    pub spec_hash: SpecHash,
    pub kind: String,
    pub description: Option<String>,
    /// `strata://wheels` references with their digests; each must be stored in the workspace.
    pub wheel_references: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// What registering a prepared definition does, given what the store already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationDecision {
    /// The existing version has the same spec hash.
    Existing(EnvironmentVersion),
    /// A new version with this number or name.
    New(EnvironmentVersion),
}

impl PreparedRegistration {
    /// Checks a user's definition (a valid, non-reserved name, no credentials, valid pip
    /// entries) and strips what must not be stored.
    pub fn new(environment: Environment) -> Result<Self, StoreError> {
        validate_name(environment.name.as_deref().unwrap_or_default())?;
        Self::checked(environment)
    }

    /// As [`Self::new`] for a curated environment, whose reserved name is its own (every
    /// store seeds a new workspace with them).
    pub fn curated(environment: Environment) -> Result<Self, StoreError> {
        Self::checked(environment)
    }

    fn checked(mut environment: Environment) -> Result<Self, StoreError> {
        let name = environment.name.clone().unwrap_or_default();
        let found = environment.embedded_credentials();
        if !found.is_empty() {
            return Err(StoreError::Credentials { found });
        }
        let mut wheel_references = Vec::new();
        if let Some(conda) = environment.conda() {
            conda.check_pip_entries(&format!("{name} (pip dependencies)"))?;
            for (reference, digest) in conda.wheel_references() {
                wheel_references.push((reference.to_string(), digest.to_string()));
            }
        }
        let mut warnings = Vec::new();
        let registry = &mut environment.docker.base_image_registry;
        if let Some(password) = &registry.password
            && !is_variable_reference(password.trim())
        {
            registry.password = None;
            warnings.push(
                "The registry password in the definition was not stored: Strata never keeps credentials. Put it in an environment variable and name that variable in the definition instead, e.g. `\"password\": \"${STRATA_REGISTRY_PASSWORD}\"`".to_string(),
            );
        }
        let explicit = match environment.version.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(EnvironmentVersion::parse(text)?),
        };
        let spec_hash = SpecHash::of(&environment);
        let kind = kind_of(&environment);
        let description = environment.metadata.description.clone();
        Ok(Self {
            name,
            environment,
            explicit,
            spec_hash,
            kind,
            description,
            wheel_references,
            warnings,
        })
    }

    /// The error for a `strata://wheels` reference the workspace does not store.
    pub fn missing_wheel(reference: &str) -> StoreError {
        StoreError::InvalidReference {
            reference: reference.to_string(),
            reason: "no wheel with this digest is stored in the workspace (add it with `strata env add-wheel FILE`, which prints the reference to use)".to_string(),
        }
    }

    /// Decides from the version the definition names (`existing` is that version's spec hash)
    /// or, without one, from the latest version: the same spec hash is that version, anything
    /// else the explicit version or `next` (which a store computes only when it is needed).
    pub fn decide(
        &self,
        existing: Option<(EnvironmentVersion, String)>,
        force_new: bool,
        next: impl FnOnce() -> Result<EnvironmentVersion, StoreError>,
    ) -> Result<RegistrationDecision, StoreError> {
        match (existing, &self.explicit) {
            (Some((version, hash)), _) if hash == self.spec_hash.as_str() && !force_new => {
                Ok(RegistrationDecision::Existing(version))
            }
            (Some((version, hash)), Some(_)) if !force_new => Err(StoreError::VersionConflict {
                name: self.name.clone(),
                version,
                existing: hash,
                new: self.spec_hash.to_string(),
            }),
            (None, Some(version)) => Ok(RegistrationDecision::New(version.clone())),
            _ => next().map(RegistrationDecision::New),
        }
    }

    /// The record of the new version and the stored form of its definition.
    pub fn into_record(
        self,
        version: EnvironmentVersion,
        options: RegisterOptions,
        curated: bool,
        created_at: i64,
    ) -> Result<(EnvironmentRecord, DefinitionDocument), StoreError> {
        let mut environment = self.environment;
        environment.version = Some(version.to_string());
        let document = DefinitionDocument::of(&environment);
        let summary = EnvironmentSummary {
            name: self.name.clone(),
            version: version.clone(),
            spec_hash: self.spec_hash.to_string(),
            kind: self.kind,
            description: self.description,
            curated,
            anonymous: options.anonymous,
            created_at,
        };
        Ok((
            EnvironmentRecord {
                name: self.name,
                version,
                spec_hash: self.spec_hash,
                environment,
                summary,
            },
            document,
        ))
    }
}

fn kind_of(environment: &Environment) -> String {
    let docker = &environment.docker;
    let kind = if docker.base_dockerfile.is_some() || docker.build_context.is_some() {
        "dockerfile"
    } else if docker.base_image.is_some() {
        "image"
    } else if environment.python.user_managed_dependencies {
        "user-managed"
    } else if environment.conda().is_some_and(|conda| {
        !conda.channels.is_empty()
            || conda.conda_packages().any(|spec| {
                MatchSpec::parse(spec)
                    .is_ok_and(|m| !matches!(m.normalized_name().as_str(), "python" | "pip"))
            })
    }) {
        "conda"
    } else {
        "pip"
    };
    kind.to_string()
}
