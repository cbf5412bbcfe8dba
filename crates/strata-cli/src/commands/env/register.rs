//! Commands that create environment versions.

use std::path::Path;

use anyhow::Result;
use serde_json::json;
use strata_spec::{Environment, SpecHash, write_v1_dir};
use strata_store::{RegisterOptions, Registration, build_context_reference};

use crate::cli::DefinitionSource;
use crate::commands::{Context, parse_ref};
use crate::printer;

/// `strata env scaffold -n NAME -d DIR`.
pub(crate) fn scaffold(name: &str, directory: &Path, overwrite: bool) -> Result<()> {
    strata_spec::validate_name(name)?;
    write_v1_dir(&Environment::scaffold(name), directory, overwrite)?;
    printer::out(format!(
        "Wrote environment `{name}` to {} (azureml_environment.json, conda_dependencies.yml)",
        directory.display()
    ));
    Ok(())
}

/// `strata env register ...`.
pub(crate) fn register(context: &Context, source: &DefinitionSource, json: bool) -> Result<()> {
    let loaded = source.load()?;
    let opened = context.open()?;
    let mut environment = loaded.environment;
    if let Some(dir) = &loaded.build_dir {
        // The context is stored as one archive blob, on the server for a server workspace.
        let reference = match context.server_url() {
            Some(url) => super::super::run_remote::RemoteRun::open(context, url)?
                .upload_build_context(dir)?,
            None => context.open_workspace()?.store_build_context(dir)?,
        };
        set_context_reference(&mut environment, reference);
    }
    for warning in &loaded.warnings {
        printer::warn(warning);
    }
    let registration = opened.block_on(
        opened
            .records
            .register_environment(environment, RegisterOptions::default()),
    )?;
    report(&registration, json);
    Ok(())
}

fn set_context_reference(environment: &mut Environment, reference: String) {
    if let Some(context) = &mut environment.docker.build_context {
        context.location_type = "strata".to_string();
        context.location = reference;
    }
}

/// Prints what a registration did.
pub(crate) fn report(registration: &Registration, json: bool) {
    for warning in &registration.warnings {
        printer::warn(warning);
    }
    let record = &registration.record;
    if json {
        printer::json(&json!({
            "name": record.name,
            "version": record.version,
            "specHash": record.spec_hash.as_str(),
            "created": registration.created,
            "environment": record.summary,
        }));
    } else if registration.created {
        printer::out(format!(
            "Registered {}:{} (spec hash {})",
            record.name,
            record.version,
            record.spec_hash.short()
        ));
    } else {
        printer::out(format!(
            "{}:{} is unchanged (spec hash {}); no new version",
            record.name,
            record.version,
            record.spec_hash.short()
        ));
    }
}

/// `strata env add-package ENV SPEC... --conda|--pip [--channel C]`.
pub(crate) fn add_package(
    context: &Context,
    environment: &str,
    packages: &[String],
    conda: bool,
    channels: &[String],
    json: bool,
) -> Result<()> {
    let reference = parse_ref(environment)?;
    let mut workspace = context.open_workspace()?;
    let registration = workspace.update_environment(
        &reference.name,
        reference.version.as_ref(),
        |environment| {
            // Channels first: a package added to an environment without channels would
            // otherwise bring in `conda-forge` ahead of the channel asked for.
            if !channels.is_empty() {
                let conda = environment.conda_dependencies_mut().spec_mut();
                for channel in channels {
                    if !conda.channels.contains(channel) {
                        conda.channels.push(channel.clone());
                    }
                }
            }
            for package in packages {
                if conda {
                    environment.add_conda_package(package)?;
                } else {
                    environment.add_pip_package(package)?;
                }
            }
            Ok(())
        },
    )?;
    report(&registration, json);
    Ok(())
}

/// `strata env add-wheel FILE [--to ENV]`.
pub(crate) fn add_wheel(
    context: &Context,
    file: &Path,
    to: Option<&str>,
    exist_ok: bool,
    json: bool,
) -> Result<()> {
    let mut workspace = context.open_workspace()?;
    if !exist_ok {
        crate::commands::interactive::refuse_stored_wheel(&workspace, file)?;
    }
    let wheel = workspace.add_wheel(file)?;
    let registration = match to {
        Some(environment) => {
            let reference = parse_ref(environment)?;
            Some(workspace.update_environment(
                &reference.name,
                reference.version.as_ref(),
                |environment| Ok(environment.add_pip_package(&wheel.uri)?),
            )?)
        }
        None => None,
    };
    if json {
        printer::json(&json!({
            "wheel": wheel,
            "environment": registration.as_ref().map(|r| json!({
                "name": r.record.name,
                "version": r.record.version,
                "created": r.created,
            })),
        }));
        return Ok(());
    }
    if !wheel.created {
        printer::note(format!(
            "These bytes were stored before as {}",
            wheel.filename
        ));
    }
    printer::out(&wheel.uri);
    if let Some(registration) = &registration {
        report(registration, false);
    }
    Ok(())
}

/// `strata env copy SOURCE[:V] NEW`.
pub(crate) fn copy(context: &Context, source: &str, name: &str, json: bool) -> Result<()> {
    let reference = parse_ref(source)?;
    let mut workspace = context.open_workspace()?;
    let registration =
        workspace.copy_environment(&reference.name, reference.version.as_ref(), name)?;
    report(&registration, json);
    Ok(())
}

/// `strata env hash ...`: the spec hash, computed without a workspace.
pub(crate) fn hash(source: &DefinitionSource, json: bool) -> Result<()> {
    // The name is not part of the hash, so none is needed here.
    let loaded = source.load_with_default_name("unnamed")?;
    for warning in &loaded.warnings {
        printer::warn(warning);
    }
    let mut environment = loaded.environment;
    if let Some(dir) = &loaded.build_dir {
        set_context_reference(&mut environment, build_context_reference(dir)?);
    }
    let hash = SpecHash::of(&environment);
    if json {
        printer::json(
            &json!({"specHash": hash.as_str(), "short": hash.short(), "definition": environment.to_azure_dict()}),
        );
    } else {
        printer::out(hash.as_str());
    }
    Ok(())
}
