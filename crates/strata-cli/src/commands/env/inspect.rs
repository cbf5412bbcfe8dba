//! Commands that read environments.

use std::path::Path;

use anyhow::Result;
use serde_json::json;
use strata_core::{DefinitionFormat, DownloadError};
use strata_spec::{Change, EnvironmentDiff};
use strata_store::{EnvironmentRecord, Workspace};

use crate::cli::Format;
use crate::commands::remote::Opened;
use crate::commands::{Context, format_time, parse_ref};
use crate::{printer, table};

/// `strata env list`.
pub(crate) fn list(
    context: &Context,
    all_versions: bool,
    all: bool,
    definitions: bool,
    json: bool,
) -> Result<()> {
    let opened = context.open()?;
    let environments = opened.environments(&strata_store::store::EnvironmentQuery {
        all_versions,
        include_anonymous: all,
        ..Default::default()
    })?;
    if json && definitions {
        let mut items = Vec::with_capacity(environments.len());
        for summary in &environments {
            let record = opened.block_on(
                opened
                    .records
                    .get_environment(&summary.name, Some(&summary.version)),
            )?;
            let mut item = serde_json::to_value(summary)?;
            item["definition"] = record.environment.to_azure_dict();
            items.push(item);
        }
        printer::json(&items);
        return Ok(());
    }
    if json {
        printer::json(&environments);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = environments
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                e.version.to_string(),
                e.kind.clone(),
                e.spec_hash[..12].to_string(),
                format_time(e.created_at),
                if e.curated {
                    "curated".to_string()
                } else {
                    e.description.clone().unwrap_or_default()
                },
            ]
        })
        .collect();
    printer::out(table::render(
        &[
            "NAME",
            "VERSION",
            "KIND",
            "SPEC HASH",
            "CREATED",
            "DESCRIPTION",
        ],
        &rows,
    ));
    Ok(())
}

/// `strata env show NAME[:VERSION]`.
pub(crate) fn show(
    context: &Context,
    environment: &str,
    label: Option<&str>,
    json: bool,
) -> Result<()> {
    let reference = parse_ref(environment)?;
    let version = match label {
        Some(label) => Some(super::labels::resolve(&context.open()?, &reference, label)?),
        None => reference.version.clone(),
    };
    if context.server_url().is_some() {
        let opened = context.open()?;
        let record = opened.block_on(
            opened
                .records
                .get_environment(&reference.name, version.as_ref()),
        )?;
        show_environment(&record, json);
        return Ok(());
    }
    let workspace = context.open_workspace()?;
    let record = workspace.get_environment(&reference.name, version.as_ref())?;
    // Images this workspace built of the version and that are still in the image store (which
    // other workspaces sharing the cache may have cleaned).
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
        let store = strata_core::images::open_store(&strata_build::Cache::from_env())
            .map_err(crate::commands::image::images_error)?;
        images.retain(|i| store.lookup(&i.reference).ok().flatten().is_some());
    }
    if images.is_empty() {
        show_environment(&record, json);
    } else if json {
        let mut value = show_json(&record);
        value["images"] = serde_json::to_value(&images)?;
        printer::json(&value);
    } else {
        let rows: Vec<(&str, String)> = images
            .iter()
            .map(|i| {
                (
                    "Image",
                    format!(
                        "{} ({}, on {})",
                        i.reference,
                        i.manifest_digest,
                        i.base_reference.as_deref().unwrap_or("-")
                    ),
                )
            })
            .collect();
        let text = show_text(&record, rows);
        printer::out(text);
    }
    Ok(())
}

/// Prints one environment version, as `env show` does.
pub(crate) fn show_environment(record: &EnvironmentRecord, json: bool) {
    if json {
        printer::json(&show_json(record));
    } else {
        printer::out(show_text(record, Vec::new()));
    }
}

fn show_json(record: &EnvironmentRecord) -> serde_json::Value {
    let mut value = json!({
        "name": record.name,
        "version": record.version,
        "specHash": record.spec_hash.as_str(),
        "kind": record.summary.kind,
        "curated": record.summary.curated,
        "anonymous": record.summary.anonymous,
        "createdAt": format_time(record.summary.created_at),
        "definition": record.environment.to_azure_dict(),
    });
    if !record.environment.metadata.is_empty() {
        value["metadata"] = serde_json::to_value(&record.environment.metadata).unwrap_or_default();
    }
    value
}

fn show_text(record: &EnvironmentRecord, extra: Vec<(&str, String)>) -> String {
    let environment = &record.environment;
    let docker = &environment.docker;
    let mut rows: Vec<(&str, String)> = vec![
        ("Name", record.name.clone()),
        ("Version", record.version.to_string()),
        ("Spec hash", record.spec_hash.to_string()),
        ("Kind", record.summary.kind.clone()),
        ("Created", format_time(record.summary.created_at)),
    ];
    if record.summary.curated {
        rows.push((
            "Curated",
            "yes (read-only; `strata env copy` to change it)".to_string(),
        ));
    }
    if let Some(description) = &environment.metadata.description {
        rows.push(("Description", description.clone()));
    }
    if environment.python.user_managed_dependencies {
        rows.push((
            "Python",
            format!("user-managed: {}", environment.python.interpreter_path),
        ));
    }
    if let Some(image) = &docker.base_image {
        rows.push(("Base image", image.clone()));
    }
    if let Some(context) = &docker.build_context {
        rows.push((
            "Build context",
            format!("{} ({})", context.location, context.dockerfile_path),
        ));
    }
    if docker.base_dockerfile.is_some() {
        rows.push(("Dockerfile", "yes (see `strata env download`)".to_string()));
    }
    if !docker.platform.is_default() {
        rows.push((
            "Platform",
            format!("{}/{}", docker.platform.os, docker.platform.architecture),
        ));
    }
    if environment.variables().next().is_some() {
        let variables: Vec<String> = environment
            .variables()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(("Variables", variables.join(" ")));
    }
    rows.extend(extra);
    let mut text = table::key_values(&rows);
    text.push('\n');
    if let Some(conda) = &environment.python.conda_dependencies {
        text.push_str("\nconda_dependencies.yml:\n");
        for line in conda.spec.to_yaml().lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    text.trim_end().to_string()
}

/// `strata env download -n NAME [-v V] -d DIR [--overwrite]`.
pub(crate) fn download(
    context: &Context,
    name: &str,
    version: Option<&strata_spec::EnvironmentVersion>,
    directory: &Path,
    overwrite: bool,
    format: Format,
) -> Result<()> {
    let opened = context.open()?;
    // A server workspace's stored build context is written from its working copy.
    let local = || match context.server_url() {
        Some(url) => strata_core::runs::open_working_copy(url),
        None => Workspace::discover(context.workspace.as_deref(), &context.cwd)
            .and_then(|root| Workspace::open(&root)),
    };
    let format = match format {
        Format::V1 => DefinitionFormat::V1,
        Format::V2 => DefinitionFormat::V2,
    };
    let record = opened
        .block_on(strata_core::download_environment(
            opened.records.as_ref(),
            opened.blobs.as_ref(),
            &local,
            (name, version),
            directory,
            overwrite,
            format,
        ))
        .map_err(download_error)?;
    printer::out(format!(
        "Downloaded {}:{} to {}",
        record.name,
        record.version,
        directory.display()
    ));
    Ok(())
}

/// A download's error, as the CLI shows it.
fn download_error(error: DownloadError) -> anyhow::Error {
    match error {
        DownloadError::Store(error) => error.into(),
        DownloadError::Spec(error) => error.into(),
        DownloadError::Images(error) => crate::commands::image::images_error(error),
        error @ DownloadError::DockerfileInV2 { .. } => {
            let hint = error.hint().unwrap_or_default();
            crate::errors::UsageError::new(error.to_string())
                .hint(hint)
                .into()
        }
        error @ DownloadError::Io { .. } => error.into(),
    }
}

/// `strata env diff A B`.
pub(crate) fn diff(context: &Context, old: &str, new: &str, json: bool) -> Result<()> {
    let opened = context.open()?;
    let old = get(&opened, old)?;
    let new = get(&opened, new)?;
    let diff = EnvironmentDiff::between(&old.environment, &new.environment);
    if json {
        printer::json(&json!({
            "old": {"name": old.name, "version": old.version, "specHash": old.spec_hash.as_str()},
            "new": {"name": new.name, "version": new.version, "specHash": new.spec_hash.as_str()},
            "sameSpecHash": old.spec_hash == new.spec_hash,
            "conda": diff.conda,
            "pip": diff.pip,
            "channels": diff.channels,
            "fields": diff.fields,
        }));
        return Ok(());
    }
    printer::out(render_diff(&old, &new, &diff));
    Ok(())
}

pub(crate) fn render_diff(
    old: &EnvironmentRecord,
    new: &EnvironmentRecord,
    diff: &EnvironmentDiff,
) -> String {
    let mut lines = vec![format!(
        "--- {}:{}  (spec hash {})",
        old.name,
        old.version,
        old.spec_hash.short()
    )];
    lines.push(format!(
        "+++ {}:{}  (spec hash {})",
        new.name,
        new.version,
        new.spec_hash.short()
    ));
    if diff.is_empty() {
        lines.push("No differences".to_string());
    }
    let mut section = |title: &str, changes: &[Change]| {
        for change in changes {
            let line = match (&change.old, &change.new) {
                (None, Some(new)) => format!("+ {title:<8} {new}"),
                (Some(old), None) => format!("- {title:<8} {old}"),
                (Some(old), Some(new)) => format!("~ {title:<8} {}: {old} -> {new}", change.key),
                (None, None) => continue,
            };
            lines.push(line);
        }
    };
    section("conda", &diff.conda);
    section("pip", &diff.pip);
    section("channel", &diff.channels);
    let fields: Vec<Change> = diff
        .fields
        .iter()
        .map(|c| Change {
            key: c.key.clone(),
            old: c.old.as_ref().map(|v| {
                if c.new.is_some() {
                    v.clone()
                } else {
                    format!("{}={v}", c.key)
                }
            }),
            new: c.new.as_ref().map(|v| {
                if c.old.is_some() {
                    v.clone()
                } else {
                    format!("{}={v}", c.key)
                }
            }),
        })
        .collect();
    section("field", &fields);
    lines.join("\n")
}

/// The version `text` names, in the workspace's records (embedded or on a server).
fn get(opened: &Opened, text: &str) -> Result<EnvironmentRecord> {
    let reference = parse_ref(text)?;
    Ok(opened.block_on(
        opened
            .records
            .get_environment(&reference.name, reference.version.as_ref()),
    )?)
}
