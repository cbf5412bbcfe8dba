//! Reading a definition from the files a user points at (`register` and `hash` share this).

use std::path::{Path, PathBuf};

use anyhow::Result;
use strata_spec::{CondaDependencies, Environment, read_v1_dir, read_v2_file};

use crate::cli::DefinitionSource;
use crate::errors::UsageError;

/// A definition read from files, before it is registered.
pub(crate) struct LoadedDefinition {
    pub(crate) environment: Environment,
    pub(crate) warnings: Vec<String>,
    /// A local Docker build context to store with the definition.
    pub(crate) build_dir: Option<PathBuf>,
}

impl DefinitionSource {
    pub(crate) fn load(&self) -> Result<LoadedDefinition> {
        self.load_inner(None)
    }

    /// Like [`DefinitionSource::load`], naming an unnamed definition `name`.
    pub(crate) fn load_with_default_name(&self, name: &str) -> Result<LoadedDefinition> {
        self.load_inner(Some(name))
    }

    fn load_inner(&self, default_name: Option<&str>) -> Result<LoadedDefinition> {
        if let Some(python) = &self.python {
            if self.requirements.is_none() {
                return Err(UsageError::new("`--python` applies to `--requirements` only")
                    .hint("A conda file or directory names its Python as a `python=X.Y` dependency")
                    .into());
            }
            let valid = python.split('.').count() <= 3
                && python
                    .split('.')
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
            if !valid {
                return Err(
                    UsageError::new(format!("Invalid Python version `{python}`"))
                        .hint("Give a version such as `3.11` or `3.11.7`")
                        .into(),
                );
            }
        }
        let mut warnings = Vec::new();
        let mut build_dir = None;
        let mut environment = if let Some(dir) = &self.directory {
            let parsed = read_v1_dir(dir)?;
            warnings.extend(parsed.warnings);
            build_dir = local_build_context(&parsed.value, dir)?;
            parsed.value
        } else if let Some(file) = &self.file {
            let parsed = read_v2_file(file)?;
            warnings.extend(parsed.warnings);
            build_dir = parsed.value.build_dir;
            parsed.value.environment
        } else {
            let name_required = || {
                UsageError::new("`--name` is required with this kind of definition")
                    .hint("Name the environment: `--name myenv`")
            };
            // Only a conda file can name the environment itself: say so before reading others.
            if self.name.is_none() && default_name.is_none() && self.conda_file.is_none() {
                return Err(name_required().into());
            }
            let conda = self.conda_dependencies(&mut warnings)?;
            let name = match (&self.name, default_name) {
                (Some(name), _) => name.clone(),
                (None, Some(name)) => name.to_string(),
                (None, None) => self
                    .conda_file_name(conda.as_ref())?
                    .ok_or_else(name_required)?,
            };
            let (environment, more) = if let Some(image) = &self.image {
                Environment::from_docker_image(&name, image, conda)
            } else if let Some(dockerfile) = &self.dockerfile {
                let text = read(dockerfile)?;
                Environment::from_dockerfile(&name, &text, conda)
            } else if let Some(conda) = conda {
                Environment::from_conda_dependencies(&name, conda)
            } else {
                return Err(UsageError::new("No definition given")
                    .hint("Pass one of `-d DIR`, `--file FILE`, `--requirements FILE`, `--conda-file FILE`, `--conda-prefix DIR`, `--image IMAGE` or `--dockerfile FILE`")
                    .into());
            };
            warnings.extend(more);
            environment
        };
        if let Some(name) = &self.name {
            environment.name = Some(name.clone());
        }
        if environment.name.as_deref().is_none_or(str::is_empty)
            && let Some(name) = default_name
        {
            environment.name = Some(name.to_string());
        }
        if environment.name.as_deref().is_none_or(str::is_empty) {
            return Err(UsageError::new("The definition has no name")
                .hint("Give one with `--name NAME`")
                .into());
        }
        Ok(LoadedDefinition {
            environment,
            warnings,
            build_dir,
        })
    }

    /// The `name:` of the `--conda-file`, which names the environment when `--name` does not,
    /// as conda names the environment it creates from the file.
    fn conda_file_name(&self, conda: Option<&CondaDependencies>) -> Result<Option<String>> {
        let (Some(file), Some(name)) = (
            &self.conda_file,
            conda.and_then(|conda| conda.spec.name.as_deref()),
        ) else {
            return Ok(None);
        };
        if let Err(error) = strata_spec::validate_name(name) {
            return Err(UsageError::new(format!(
                "The conda file `{}` names the environment `{name}`, which cannot be an environment name",
                file.display()
            ))
            .hint(format!("{error}; name it with `--name NAME`"))
            .into());
        }
        Ok(Some(name.to_string()))
    }

    /// The packages given with `--requirements`, `--conda-file` or `--conda-prefix`.
    fn conda_dependencies(&self, warnings: &mut Vec<String>) -> Result<Option<CondaDependencies>> {
        if let Some(requirements) = &self.requirements {
            let parsed = strata_spec::read_requirements_file(requirements)?;
            warnings.extend(parsed.warnings);
            let environment = Environment::from_pip_requirements(
                "requirements",
                parsed.value,
                self.python.as_deref(),
            );
            return Ok(environment.python.conda_dependencies);
        }
        if let Some(file) = &self.conda_file {
            let text = read(file)?;
            let parsed =
                CondaDependencies::parse_with_warnings(&text, &file.display().to_string())?;
            warnings.extend(parsed.warnings);
            return Ok(Some(parsed.value));
        }
        if let Some(prefix) = &self.conda_prefix {
            let parsed = strata_spec::read_conda_prefix(prefix)?;
            warnings.extend(parsed.warnings);
            return Ok(Some(CondaDependencies::from_spec(parsed.value)));
        }
        Ok(None)
    }
}

/// The directory of a v1 definition's `local` build context (`"locationType": "local"`, as
/// `env download` writes one), relative to the definition's directory.
fn local_build_context(environment: &Environment, dir: &Path) -> Result<Option<PathBuf>> {
    let Some(context) = environment
        .docker
        .build_context
        .as_ref()
        .filter(|context| context.location_type == "local")
    else {
        return Ok(None);
    };
    let context_dir = dir.join(&context.location);
    if !context_dir.join(&context.dockerfile_path).is_file() {
        return Err(UsageError::new(format!(
            "The build context `{}` of `{}` has no `{}`",
            context.location,
            dir.join(strata_spec::AZUREML_ENVIRONMENT_JSON).display(),
            context.dockerfile_path
        ))
        .hint("`docker.buildContext.location` is a directory beside `azureml_environment.json` holding `dockerfilePath`")
        .into());
    }
    Ok(Some(context_dir))
}

fn read(path: &std::path::Path) -> Result<String, strata_spec::SpecError> {
    strata_spec::read_definition_file(path)
}
