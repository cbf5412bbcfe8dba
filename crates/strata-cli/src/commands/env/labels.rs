//! `strata env label` and `env show --label`.

use anyhow::Result;
use clap::Args;
use serde_json::json;
use strata_spec::{EnvironmentRef, EnvironmentVersion};
use strata_store::Workspace;

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
    let workspace = context.open_workspace()?;
    workspace.label_environment(&reference.name, &version, labels)?;
    let all = workspace.environment_labels(&reference.name)?;
    if json {
        printer::json(&json!({
            "name": reference.name,
            "version": version,
            "labels": all.iter().map(|(l, v)| json!({"label": l, "version": v})).collect::<Vec<_>>(),
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

/// The version a label names; a reference with a version and a label is refused.
pub(super) fn resolve(
    workspace: &Workspace,
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
    workspace.get_environment(&reference.name, None)?;
    Ok(workspace.labelled_version(&reference.name, label)?)
}
