//! `strata env sbom NAME[:VERSION]`: a CycloneDX or SPDX SBOM of a version's lock.

use std::path::PathBuf;

use anyhow::Result;
use strata_inventory::{InventoryError, SbomFormat};
use strata_store::Workspace;

use crate::commands::{Context, parse_ref};
use crate::printer;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SbomFormatArg {
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SbomArgs {
    /// `NAME` or `NAME:VERSION`.
    pub(crate) environment: String,
    /// The SBOM format.
    #[arg(long, value_enum)]
    pub(crate) format: SbomFormatArg,
    /// Write it to a file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

pub(crate) fn sbom(context: &Context, args: &SbomArgs) -> Result<()> {
    let reference = parse_ref(&args.environment)?;
    let format = match args.format {
        SbomFormatArg::Cyclonedx => SbomFormat::CycloneDx,
        SbomFormatArg::Spdx => SbomFormat::Spdx,
    };
    let opened = context.open()?;
    let sbom = opened.block_on(strata_core::sbom(
        opened.records.as_ref(),
        &reference,
        format,
    ))?;
    match &args.output {
        Some(path) => {
            let path = context.cwd.join(path);
            strata_spec::atomic_write(&path, sbom.text.as_bytes())?;
            printer::note(format!(
                "Wrote the {format} SBOM of `{}:{}` to {}",
                sbom.name,
                sbom.version,
                path.display()
            ));
        }
        None => printer::raw_stdout(sbom.text.as_bytes()),
    }
    Ok(())
}

/// The media type of a CycloneDX JSON SBOM, as an OCI artifact type.
const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// Records the CycloneDX SBOM of an image's lock beside the image in the image store, as an
/// OCI referrer (see docs/containers.md); returns the referrer's manifest digest, or `None`
/// for an image without a lock (user-managed environments).
pub(crate) fn attach_to_image(
    workspace: &Workspace,
    image: &crate::commands::image::EnvImage,
) -> Result<Option<String>> {
    if image.lock_hash.is_none() {
        return Ok(None);
    }
    let (name, version) = (&image.record.name, &image.record.version);
    let lock = workspace
        .get_lock(name, version)?
        .ok_or_else(|| InventoryError::NotLocked {
            name: name.clone(),
            version: version.clone(),
        })?;
    let text = strata_core::sbom_of_lock(name, version, &lock, SbomFormat::CycloneDx);
    let size = image.store.read_blob(&image.digest)?.len() as u64;
    let subject = strata_image::Descriptor::new(
        strata_image::MANIFEST_MEDIA_TYPE,
        image.digest.clone(),
        size,
    );
    let referrer = strata_image::attach_referrer(
        &image.store,
        &subject,
        CYCLONEDX_MEDIA_TYPE,
        "sbom.cdx.json",
        text.as_bytes(),
    )?;
    Ok(Some(referrer.digest))
}
