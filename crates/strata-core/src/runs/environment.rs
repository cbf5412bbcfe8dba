//! The environment a run uses: registered, from an Azure ML v1 directory, made of packages
//! (anonymous, named by its content), or the workspace's default.

use std::path::PathBuf;

use strata_build::Reporter;
use strata_spec::{
    CondaDependencies, DEFAULT_ENVIRONMENT, Environment, EnvironmentRef, EnvironmentVersion,
    SpecHash, read_v1_dir,
};
use strata_store::{RegisterOptions, Workspace};

use super::Result;

/// Where a run's environment comes from.
#[derive(Debug, Clone)]
pub enum RunEnvironment {
    /// A registered version (the latest without one).
    Registered(EnvironmentRef),
    /// An Azure ML v1 environment directory, registered as its next version when it changed.
    Directory(PathBuf),
    /// A requirements file or a conda file, plus packages, as an anonymous environment.
    Packages {
        requirements: Option<PathBuf>,
        conda_file: Option<PathBuf>,
        pip: Vec<String>,
        conda: Vec<String>,
    },
    /// The workspace's default environment.
    Default,
}

/// The registered version a run uses, registering it first when it comes from a directory or
/// from packages; what the definitions warn about goes to `reporter`.
pub fn resolve_environment(
    workspace: &mut Workspace,
    wanted: &RunEnvironment,
    reporter: &dyn Reporter,
) -> Result<(String, EnvironmentVersion)> {
    let (requirements, conda_file, pip, conda) = match wanted {
        RunEnvironment::Registered(reference) => {
            let record = workspace.get_environment(&reference.name, reference.version.as_ref())?;
            return Ok((record.name, record.version));
        }
        RunEnvironment::Default => {
            let record = workspace.get_environment(DEFAULT_ENVIRONMENT, None)?;
            return Ok((record.name, record.version));
        }
        RunEnvironment::Directory(dir) => {
            let parsed = read_v1_dir(dir)?;
            for warning in &parsed.warnings {
                reporter.warn(warning);
            }
            let registration =
                workspace.register_environment(parsed.value, RegisterOptions::default())?;
            return Ok((registration.record.name, registration.record.version));
        }
        RunEnvironment::Packages {
            requirements,
            conda_file,
            pip,
            conda,
        } => (requirements, conda_file, pip, conda),
    };
    let mut environment = if let Some(file) = requirements {
        let parsed = strata_spec::read_requirements_file(file)?;
        for warning in &parsed.warnings {
            reporter.warn(warning);
        }
        Environment::from_pip_requirements("anonymous", parsed.value, None)
    } else if let Some(file) = conda_file {
        let text = strata_spec::read_definition_file(file)?;
        let parsed = CondaDependencies::parse_with_warnings(&text, &file.display().to_string())?;
        let (environment, more) = Environment::from_conda_dependencies("anonymous", parsed.value);
        for warning in parsed.warnings.iter().chain(&more) {
            reporter.warn(warning);
        }
        environment
    } else {
        Environment::from_pip_requirements("anonymous", Vec::new(), None)
    };
    for package in conda {
        environment.add_conda_package(package)?;
    }
    for package in pip {
        environment.add_pip_package(package)?;
    }
    // Anonymous environments are named by their content, as Azure ML names them by hash.
    environment.name = Some(format!(
        "anonymous-{}",
        &SpecHash::of(&environment).as_str()[..16]
    ));
    let registration =
        workspace.register_environment(environment, RegisterOptions { anonymous: true })?;
    Ok((registration.record.name, registration.record.version))
}
