//! Building definitions from what users have: a requirements file, a conda specification, a
//! Docker image or a Dockerfile, or nothing (the scaffold template).

use crate::conda::{CondaDependencies, CondaDependency, CondaSpec};
use crate::credentials::mask_url_credentials;
use crate::environment::Environment;
use crate::error::SpecError;

/// The Python version of new definitions that do not name one (`python=X.Y` matches any
/// installed `X.Y.*` interpreter, so builds work without a conda channel).
pub const DEFAULT_PYTHON_VERSION: &str = "3.11";

const SCAFFOLD_CONDA: &str = "\
# Conda environment specification, in the format of Azure ML's conda_dependencies.yml.
# Everything listed here is installed when the environment is built, unless
# azureml_environment.json sets python.userManagedDependencies to true.

name: project_environment
dependencies:
  # The Python interpreter: from a conda channel below when one provides it, otherwise
  # an interpreter of this version installed on the machine.
- python=3.11
- pip
  # Packages installed with pip (add more with `strata env add-package NAME PKG --pip`).
- pip: []
channels: []
";

impl Environment {
    /// The definition `strata env scaffold` writes: Azure ML's `Environment(name)` without its
    /// dummy `EXAMPLE_ENV_VAR` and vendor base image.
    pub fn scaffold(name: &str) -> Self {
        let mut environment = Self::new(name);
        environment.docker.shm_size = Some("2g".to_string());
        environment.python.conda_dependencies =
            CondaDependencies::parse(SCAFFOLD_CONDA, "scaffold").ok();
        environment
    }

    /// Azure ML's `Environment.from_pip_requirements`, with the pip list taken from a parsed
    /// requirements file (comments and blank lines are not packages here).
    pub fn from_pip_requirements(name: &str, entries: Vec<String>, python: Option<&str>) -> Self {
        let spec = CondaSpec {
            name: Some("project_environment".to_string()),
            dependencies: vec![
                CondaDependency::Conda(format!(
                    "python={}",
                    python.unwrap_or(DEFAULT_PYTHON_VERSION)
                )),
                CondaDependency::Conda("pip".to_string()),
                CondaDependency::Pip(entries),
            ],
            ..CondaSpec::default()
        };
        Self::from_conda_spec(name, spec).0
    }

    /// Azure ML's `Environment.from_conda_specification`. A specification without `python`
    /// gets `python=<default>` appended, with a warning, as Azure ML does.
    pub fn from_conda_spec(name: &str, spec: CondaSpec) -> (Self, Vec<String>) {
        Self::from_conda_dependencies(name, CondaDependencies::from_spec(spec))
    }

    /// Like [`Environment::from_conda_spec`], keeping the original text when nothing is added.
    pub fn from_conda_dependencies(
        name: &str,
        mut conda: CondaDependencies,
    ) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        if conda.spec.python_spec().is_none() {
            conda
                .spec_mut()
                .dependencies
                .push(CondaDependency::Conda(format!(
                    "python={DEFAULT_PYTHON_VERSION}"
                )));
            warnings.push(format!(
                "No Python version provided, defaulting to `python={DEFAULT_PYTHON_VERSION}`: it was added to the conda dependencies, as Azure ML adds its default (add `python=X.Y` to choose)"
            ));
        }
        let mut environment = Self::new(name);
        environment.python.conda_dependencies = Some(conda);
        (environment, warnings)
    }

    /// Azure ML's `Environment.from_docker_image`: user-managed (the image's own Python, nothing
    /// installed) unless a conda specification is given, which gets a Python as in
    /// [`Environment::from_conda_dependencies`] (hence the warnings).
    pub fn from_docker_image(
        name: &str,
        image: &str,
        conda: Option<CondaDependencies>,
    ) -> (Self, Vec<String>) {
        let (mut environment, warnings) = match conda {
            Some(conda) => Self::from_conda_dependencies(name, conda),
            None => {
                let mut environment = Self::new(name);
                environment.python.user_managed_dependencies = true;
                (environment, Vec::new())
            }
        };
        environment.docker.base_image = Some(image.to_string());
        (environment, warnings)
    }

    /// Azure ML's `Environment.from_dockerfile`: the same rule as for images.
    pub fn from_dockerfile(
        name: &str,
        dockerfile: &str,
        conda: Option<CondaDependencies>,
    ) -> (Self, Vec<String>) {
        let (mut environment, warnings) = Self::from_docker_image(name, "", conda);
        environment.docker.base_image = None;
        environment.docker.base_dockerfile = Some(dockerfile.to_string());
        (environment, warnings)
    }

    /// Adds a conda package (`add_conda_package`), creating the conda specification and a
    /// `conda-forge` channel when the definition has none.
    pub fn add_conda_package(&mut self, spec: &str) -> Result<(), SpecError> {
        let conda = self.conda_for_edit();
        let spec_mut = conda.spec_mut();
        spec_mut.add_conda_package(spec)?;
        let name = crate::MatchSpec::parse(spec)?.normalized_name();
        if spec_mut.channels.is_empty() && name != "python" && name != "pip" {
            spec_mut.channels.push("conda-forge".to_string());
        }
        Ok(())
    }

    /// Adds a pip package (`add_pip_package`), replacing an entry for the same package.
    pub fn add_pip_package(&mut self, requirement: &str) -> Result<(), SpecError> {
        self.conda_for_edit()
            .spec_mut()
            .add_pip_package(requirement)
    }

    /// Every value holding a URL that carries a credential (see [`mask_url_credentials`]):
    /// conda channels and packages, pip entries, Spark repositories, R URLs, the build
    /// context and the registry address. `${VAR}` references are not secrets and are allowed.
    /// Returned with the credentials masked.
    pub fn embedded_credentials(&self) -> Vec<String> {
        let mut values: Vec<&str> = Vec::new();
        if let Some(conda) = self.conda() {
            values.extend(conda.channels.iter().map(String::as_str));
            values.extend(conda.conda_packages());
            values.extend(conda.pip_entries());
        }
        values.extend(self.spark.repositories.iter().flatten().map(String::as_str));
        if let Some(r) = &self.r {
            values.extend(r.custom_url_packages.iter().flatten().map(String::as_str));
            values.extend(
                r.github_packages
                    .iter()
                    .flatten()
                    .map(|p| p.repository.as_str()),
            );
        }
        if let Some(context) = &self.docker.build_context {
            values.push(&context.location);
        }
        values.extend(self.docker.base_image_registry.address.as_deref());
        values.extend(self.python.base_conda_environment.as_deref());
        values
            .into_iter()
            .filter_map(mask_url_credentials)
            .collect()
    }

    /// The conda specification to change, created (with the default Python) when missing.
    pub fn conda_dependencies_mut(&mut self) -> &mut CondaDependencies {
        self.conda_for_edit()
    }

    fn conda_for_edit(&mut self) -> &mut CondaDependencies {
        self.python.conda_dependencies.get_or_insert_with(|| {
            CondaDependencies::from_spec(CondaSpec {
                name: Some("project_environment".to_string()),
                dependencies: vec![CondaDependency::Conda(format!(
                    "python={DEFAULT_PYTHON_VERSION}"
                ))],
                ..CondaSpec::default()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaffold_parses_and_has_python() {
        let environment = Environment::scaffold("myenv");
        let conda = environment.conda().unwrap();
        assert_eq!(
            conda.python_spec().unwrap().version.as_deref(),
            Some("3.11")
        );
        assert_eq!(environment.variables().count(), 0);
    }

    #[test]
    fn add_pip_package_to_scaffold_drops_comments_only_on_change() {
        let mut environment = Environment::scaffold("myenv");
        environment.add_pip_package("pillow").unwrap();
        insta::assert_snapshot!(environment.python.conda_dependencies.unwrap().to_yaml(), @r"
        name: project_environment
        dependencies:
        - python=3.11
        - pip
        - pip:
          - pillow
        channels: []
        ");
    }

    #[test]
    fn passwords_in_urls_are_found_and_masked() {
        let environment = Environment::from_pip_requirements(
            "e",
            vec![
                "--extra-index-url https://me:s3cret@pkgs.example.org/simple".to_string(),
                "--index-url https://me:${INDEX_PASSWORD}@pkgs.example.org/simple".to_string(),
                "six".to_string(),
                "pkg @ https://TOKEN@host/pkg-1.0.tar.gz".to_string(),
            ],
            None,
        );
        assert_eq!(
            environment.embedded_credentials(),
            [
                "--extra-index-url https://***@pkgs.example.org/simple",
                "pkg @ https://***@host/pkg-1.0.tar.gz"
            ]
        );
        let mut environment = environment;
        let conda = environment.conda_dependencies_mut().spec_mut();
        conda
            .channels
            .push("https://conda.anaconda.org/t/tk-123/private".to_string());
        environment.spark.repositories = Some(vec!["https://u:p@maven.example/repo".to_string()]);
        assert_eq!(environment.embedded_credentials().len(), 4);
    }

    #[test]
    fn image_without_dependencies_is_user_managed() {
        let environment = Environment::from_docker_image("img", "python:3.11-slim", None).0;
        assert!(environment.python.user_managed_dependencies);
        assert!(environment.conda().is_none());
    }
}
