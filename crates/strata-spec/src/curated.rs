//! Curated environments: shipped with Strata, present in every workspace, read-only.

use crate::environment::Environment;
use crate::naming::EnvironmentVersion;
use crate::sources::DEFAULT_PYTHON_VERSION;

/// The environment runs use when none is given (Azure ML's default environment).
pub const DEFAULT_ENVIRONMENT: &str = "Strata-Minimal";

/// Every curated environment at its current version, as `(name, version, definition)`.
pub fn curated_environments() -> Vec<(String, EnvironmentVersion, Environment)> {
    let minimal = Environment::from_pip_requirements(DEFAULT_ENVIRONMENT, Vec::new(), None);
    let tutorial = Environment::from_pip_requirements(
        "Strata-Tutorial",
        [
            "numpy==2.4.6",
            "pandas==3.1.1",
            "scikit-learn==1.9.1",
            "matplotlib==3.11.2",
        ]
        .map(str::to_string)
        .to_vec(),
        Some(DEFAULT_PYTHON_VERSION),
    );
    let describe = |mut environment: Environment, description: &str| {
        environment.metadata.description = Some(description.to_string());
        environment.version = Some("1".to_string());
        environment
    };
    vec![
        (
            DEFAULT_ENVIRONMENT.to_string(),
            EnvironmentVersion::number(1),
            describe(
                minimal,
                "Python and pip only; the default environment of runs",
            ),
        ),
        (
            "Strata-Tutorial".to_string(),
            EnvironmentVersion::number(1),
            describe(
                tutorial,
                "numpy, pandas, scikit-learn and matplotlib, pinned, for tutorials and quick experiments",
            ),
        ),
    ]
}

/// Whether `name` is reserved for curated environments (`Strata-`, `AzureML-`, any case).
pub fn is_curated_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    crate::naming::RESERVED_PREFIXES
        .iter()
        .any(|p| lower.starts_with(p))
}
