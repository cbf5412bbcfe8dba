//! `strata env label` and `env show --label`.

use anyhow::Result;
use clap::Args;
use serde_json::json;
use strata_spec::{EnvironmentRef, EnvironmentVersion};
use strata_store::store::{MAX_PAGE_SIZE, collect_all};

use crate::commands::remote::Opened;
use crate::commands::{Context, parse_ref};
use crate::errors::UsageError;
use crate::printer;

#[derive(Debug, Args)]
pub(crate) struct LabelArgs {
    /// `NAME:VERSION`.
    pub(crate) environment: String,
    /// The labels (letters, digits, `-`, `_`, `.`).
    #[arg(required = true)]
    pub(crate) labels: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `strata env label NAME:VERSION LABEL...`.
pub(crate) fn label(context: &Context, args: &LabelArgs) -> Result<()> {
    let (labels, json) = (&args.labels, args.json);
    let reference = parse_ref(&args.environment)?;
    let Some(version) = reference.version else {
        return Err(UsageError::new(format!(
            "Say which version of `{}` to label",
            reference.name
        ))
        .hint(format!(
            "strata env label {}:VERSION {}",
            reference.name,
            labels.join(" ")
        ))
        .into());
    };
    let opened = context.open()?;
    let records = opened.records.as_ref();
    let name = reference.name.as_str();
    let all = opened.block_on(async {
        records.label_environment(name, &version, labels).await?;
        collect_all(|cursor| async move {
            records
                .environment_labels(name, cursor.as_deref(), MAX_PAGE_SIZE)
                .await
        })
        .await
    })?;
    if json {
        printer::json(&json!({
            "name": reference.name,
            "version": version,
            "labels": all,
        }));
    } else {
        printer::out(format!(
            "Labelled {}:{version} {}",
            reference.name,
            labels.join(", ")
        ));
    }
    Ok(())
}

/// The version a label names, in the workspace's records (embedded or on a server); a
/// reference with a version and a label is refused.
pub(super) fn resolve(
    opened: &Opened,
    reference: &EnvironmentRef,
    label: &str,
) -> Result<EnvironmentVersion> {
    if reference.version.is_some() {
        return Err(UsageError::new("Give a version or a label, not both")
            .hint(format!(
                "strata env show {} --label {label}",
                reference.name
            ))
            .into());
    }
    Ok(opened.block_on(opened.records.labelled_version(&reference.name, label))?)
}
