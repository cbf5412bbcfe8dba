//! `strata env search SPEC`: which environment versions lock a package, and what used them.

use anyhow::Result;
use serde::Serialize;
use strata_inventory::{Ecosystem, PackageQuery, SearchHit};

use crate::commands::Context;
use crate::{printer, table};

#[derive(Debug, clap::Args)]
pub(crate) struct SearchArgs {
    /// A PyPI requirement (`numpy<1.22`, `pillow`, `pypi:Pillow>=9`; PEP 440 versions, PEP 503
    /// names) or a conda match spec (`conda:openssl<3`, `conda:mat-app 1.2.* h0_1`).
    pub(crate) spec: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `--json`'s document, written straight from the hits (thousands of them for a common
/// package): no intermediate `serde_json::Value`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchOutput<'a> {
    schema_version: u64,
    spec: &'a str,
    ecosystem: Ecosystem,
    package: &'a str,
    matches: &'a [SearchHit],
}

pub(crate) fn search(context: &Context, args: &SearchArgs) -> Result<()> {
    let query = PackageQuery::parse(&args.spec)?;
    let opened = context.open()?;
    let hits = opened.block_on(strata_core::search_packages(
        opened.records.as_ref(),
        &query,
    ))?;
    if args.json {
        let output = SearchOutput {
            schema_version: printer::SCHEMA_VERSION,
            spec: &query.text,
            ecosystem: query.ecosystem,
            package: &query.name,
            matches: &hits,
        };
        printer::out(serde_json::to_string_pretty(&output)?);
        return Ok(());
    }
    if hits.is_empty() {
        printer::out(format!(
            "No locked environment version has {} `{}` matching `{}`",
            query.ecosystem, query.name, query.text
        ));
        return Ok(());
    }
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|hit| {
            let usage = &hit.usage;
            let locked = match (&usage.build, hit.ecosystem) {
                (Some(build), Ecosystem::Conda) => format!("{}={build}", usage.version),
                _ => usage.version.clone(),
            };
            vec![
                format!("{}:{}", usage.env_name, usage.env_version),
                format!("{}:{}", hit.ecosystem, hit.package),
                locked,
                list(&usage.runs),
                list(&usage.models),
                list(&usage.services),
            ]
        })
        .collect();
    printer::out(table::render(
        &[
            "ENVIRONMENT",
            "PACKAGE",
            "LOCKED",
            "RUNS",
            "MODELS",
            "SERVICES",
        ],
        &rows,
    ));
    Ok(())
}
