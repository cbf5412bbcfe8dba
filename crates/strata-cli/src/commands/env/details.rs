//! `strata env image-details`: where a version is built, without building it (Azure ML's
//! `Environment.get_image_details`).

use anyhow::Result;
use clap::Args;
use serde_json::json;
use strata_build::Cache;

use crate::commands::{Context, parse_ref};
use crate::{printer, table};

#[derive(Debug, Args)]
pub(crate) struct ImageDetailsArgs {
    /// `NAME` or `NAME:VERSION`.
    pub(crate) environment: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `strata env image-details NAME[:VERSION]`.
pub(crate) fn image_details(context: &Context, args: &ImageDetailsArgs) -> Result<()> {
    let json = args.json;
    let reference = parse_ref(&args.environment)?;
    let opened = context.open()?;
    let record = opened.block_on(
        opened
            .records
            .get_environment(&reference.name, reference.version.as_ref()),
    )?;
    let lock = opened.block_on(opened.records.get_lock(&record.name, &record.version))?;
    // Prefixes and images are this machine's; a server workspace's are in its working copy.
    let workspace = match context.server_url() {
        Some(url) => crate::commands::run_remote::open_working_copy(url)?,
        None => context.open_workspace()?,
    };
    let cache = Cache::from_env();
    // A user-managed version runs in its interpreter; others in their prefix once built.
    let (interpreter, prefix) = match &lock {
        Some(lock) => match &lock.lock.user_managed {
            Some(user) => (Some(user.interpreter.clone()), None),
            None => match strata_build::lookup(&lock.lock_hash, &cache) {
                Some(built) => (
                    Some(built.python.display().to_string()),
                    Some(built.path.display().to_string()),
                ),
                None => (None, None),
            },
        },
        None => (None, None),
    };
    let mut images: Vec<strata_store::ImageRecord> = workspace
        .list_images()?
        .into_iter()
        .filter(|i| {
            i.kind == "environment"
                && i.env_name.as_deref() == Some(record.name.as_str())
                && i.env_version.as_ref() == Some(&record.version)
        })
        .collect();
    if !images.is_empty() {
        let store = strata_core::images::open_store(&cache)
            .map_err(crate::commands::image::images_error)?;
        images.retain(|i| store.lookup(&i.reference).ok().flatten().is_some());
    }
    let image = images.first();
    if json {
        printer::json(&json!({
            "name": record.name,
            "version": record.version,
            "lockHash": lock.as_ref().map(|l| l.lock_hash.clone()),
            "built": prefix.is_some() || (interpreter.is_some() && lock.is_some()),
            "imageExistsInRegistry": image.is_some(),
            "dockerImage": {
                "name": image.map(|i| i.reference.clone()),
                "digest": image.map(|i| i.manifest_digest.clone()),
                "registry": null,
            },
            "pythonEnvironment": {
                "interpreterPath": interpreter,
                "condaEnvironmentPath": prefix,
                "condaEnvironmentName": null,
            },
        }));
        return Ok(());
    }
    let none = || "(not built)".to_string();
    printer::out(table::key_values(&[
        ("Environment", format!("{}:{}", record.name, record.version)),
        ("Interpreter", interpreter.unwrap_or_else(none)),
        ("Prefix", prefix.unwrap_or_else(none)),
        (
            "Image",
            image.map_or_else(|| "(none)".to_string(), |i| i.reference.clone()),
        ),
    ]));
    Ok(())
}
