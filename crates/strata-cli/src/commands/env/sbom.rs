//! `strata env sbom NAME[:VERSION]`: a CycloneDX or SPDX SBOM of a version's lock.

use std::path::PathBuf;

use anyhow::Result;
use strata_inventory::SbomFormat;

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
