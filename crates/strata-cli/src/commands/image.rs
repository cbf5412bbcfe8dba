//! `strata env image` and `strata image ...`: the image use cases of `strata_core::images`,
//! rendered.

use anyhow::Result;
use serde_json::json;
use strata_core::images::{self, BaseOverride, ExportFormat, ImageOutputs, ImagesError};
use strata_store::format_time;

use crate::cli::{BaseArgs, BaseKind, EnvImageArgs};
use crate::commands::build::cli_error;
use crate::commands::{Context, parse_ref};
use crate::errors::UsageError;
use crate::printer;
use crate::progress::TerminalReporter;

/// An image use case's error as the CLI reports it: a failed build or a store error stays
/// itself in the chain, so its hint is found.
pub(crate) fn images_error(error: ImagesError) -> anyhow::Error {
    match error {
        ImagesError::Prepare(error) => cli_error(error),
        ImagesError::Store(error) => error.into(),
        ImagesError::Image(error) => error.into(),
        ImagesError::Build(error) => error.into(),
        other => other.into(),
    }
}

impl BaseArgs {
    pub(crate) fn to_override(&self) -> BaseOverride {
        BaseOverride {
            base: self.base.clone(),
            base_archive: self.base_archive.clone(),
        }
    }
}

/// `strata env image`.
pub(crate) fn env_image(context: &Context, args: &EnvImageArgs) -> Result<()> {
    let reference = parse_ref(&args.environment)?;
    // clap takes `--output` as two values.
    let export = match args.output.as_slice() {
        [format, path] => {
            let format = match format.as_str() {
                "oci-dir" => ExportFormat::OciDir,
                "oci-archive" => ExportFormat::OciArchive,
                other => {
                    return Err(UsageError::new(format!("Unknown output format `{other}`"))
                        .hint("Use `--output oci-dir DIR` or `--output oci-archive FILE.tar`")
                        .into());
                }
            };
            Some((format, context.cwd.join(path)))
        }
        _ => None,
    };
    let outputs = ImageOutputs {
        export,
        load: args.load,
        push: args.push.clone(),
    };
    // On a server workspace the image is made here, in the working copy, from the server's
    // lock (made here and shared when it has none), as builds are.
    let (mut workspace, version) = match context.server_url() {
        Some(url) => {
            let remote = crate::commands::run_remote::RemoteRun::open(context, url)?;
            let mut workspace = remote.working_copy()?;
            let shared = remote.relock(
                &mut workspace,
                &reference.name,
                reference.version.as_ref(),
                false,
            )?;
            remote.pull_build_context(&workspace, &shared.record)?;
            (workspace, Some(shared.record.version))
        }
        None => (context.open_workspace()?, reference.version.clone()),
    };
    let reporter = TerminalReporter::new();
    let published = images::env_image(
        &mut workspace,
        &reference.name,
        version.as_ref(),
        &args.base.to_override(),
        &outputs,
        &reporter,
    )
    .map_err(images_error)?;
    drop(reporter);
    let image = &published.image;
    if args.json {
        printer::json(&json!({
            "environment": format!("{}:{}", image.record.name, image.record.version),
            "reference": image.reference,
            "digest": image.digest,
            "size": image.size,
            "reused": image.reused,
            "python": image.python,
            "base": {"reference": image.base_reference, "digest": image.base_digest},
            "lockHash": image.lock_hash,
            "sbom": published.sbom,
            "layout": image.store.dir(),
            "loaded": published.loaded,
            "pushed": published.pushed,
        }));
        return Ok(());
    }
    printer::out(format!(
        "{} {}:{} -> {}",
        if image.reused { "Reused" } else { "Built" },
        image.record.name,
        image.record.version,
        image.reference
    ));
    printer::out(format!("digest: {}", image.digest));
    printer::out(format!(
        "base:   {} ({})",
        image.base_reference, image.base_digest
    ));
    printer::out(format!("size:   {}", crate::table::human_bytes(image.size)));
    if let Some(name) = &published.loaded {
        printer::out(format!("loaded: {name}"));
    }
    if let Some(name) = &published.pushed {
        printer::out(format!("pushed: {name}"));
    }
    Ok(())
}

/// `strata image base`.
pub(crate) fn make_base(kind: BaseKind, suite: &str, rebuild: bool, json: bool) -> Result<()> {
    let BaseKind::DebianPython = kind;
    let reporter = TerminalReporter::new();
    let base = images::make_debian_base(suite, rebuild, &reporter).map_err(images_error)?;
    drop(reporter);
    if json {
        printer::json(&json!({
            "reference": base.reference,
            "digest": base.digest,
            "size": base.size,
            "reused": base.reused,
            "layout": base.layout,
        }));
    } else {
        printer::out(format!(
            "{} {}",
            if base.reused { "Reused" } else { "Made" },
            base.reference
        ));
        printer::out(format!("digest: {}", base.digest));
        printer::out(format!("size:   {}", crate::table::human_bytes(base.size)));
    }
    Ok(())
}

/// The workspace whose records name this machine's images, when there is one: the embedded
/// workspace, or a server workspace's working copy (where its images are made).
fn images_workspace(context: &Context) -> Option<strata_store::Workspace> {
    match context.server_url() {
        Some(url) => crate::commands::run_remote::open_working_copy(url).ok(),
        None => context.open_workspace().ok(),
    }
}

/// `strata image list`: every image in the store, with what the workspace knows of it.
pub(crate) fn list(context: &Context, json: bool) -> Result<()> {
    // The store is the machine's: listing it needs no workspace.
    let workspace = images_workspace(context);
    let entries = images::list_images(workspace.as_ref()).map_err(images_error)?;
    if json {
        let rows: Vec<_> = entries
            .iter()
            .map(|image| {
                json!({
                    "reference": image.reference,
                    "digest": image.digest,
                    "size": image.size,
                    "environment": image.environment,
                    "created": image.created_at.map(format_time),
                })
            })
            .collect();
        printer::json(&rows);
        return Ok(());
    }
    if entries.is_empty() {
        printer::note("No images; `strata env image NAME` builds one");
        return Ok(());
    }
    let table: Vec<Vec<String>> = entries
        .iter()
        .map(|image| {
            vec![
                image.reference.clone(),
                short_digest(&image.digest),
                crate::table::human_bytes(image.size),
                image.environment.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    printer::out(crate::table::render(
        &["REFERENCE", "DIGEST", "SIZE", "ENVIRONMENT"],
        &table,
    ));
    Ok(())
}

/// `strata image rm`.
pub(crate) fn remove(context: &Context, references: &[String], all: bool) -> Result<()> {
    let mut workspace = images_workspace(context);
    let removed =
        images::remove_images(workspace.as_mut(), references, all).map_err(images_error)?;
    for reference in &removed.references {
        printer::out(format!("Removed {reference}"));
    }
    printer::note(format!(
        "Deleted {} unused blobs ({}){}",
        removed.blobs,
        crate::table::human_bytes(removed.bytes),
        if removed.unpacked > 0 {
            format!(" and {} unpacked base images", removed.unpacked)
        } else {
            String::new()
        }
    ));
    Ok(())
}

fn short_digest(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("sha256:{}", &hex[..hex.len().min(12)])
}
