//! `strata workspace push URL`.

use anyhow::Result;
use strata_store::store::{PushProgress, push_workspace};

use crate::commands::Context;
use crate::errors::UsageError;
use crate::printer;

struct Steps;

impl PushProgress for Steps {
    fn step(&self, what: &str) {
        printer::note(format!("Pushing {what}"));
    }
}

pub(crate) fn run(context: &Context, url: &str, json: bool) -> Result<()> {
    if !crate::commands::remote::is_url(url) {
        return Err(
            UsageError::new(format!("`{url}` is not a server workspace URL"))
                .hint("Give it as `http(s)://HOST[:PORT]/w/NAME`")
                .into(),
        );
    }
    let local = context.open_workspace()?;
    let server = context.with_workspace(url).open()?;
    let summary = server.block_on(push_workspace(
        &local,
        server.records.as_ref(),
        server.blobs.as_ref(),
        &Steps,
    ))?;
    if json {
        printer::json(&summary);
        return Ok(());
    }
    if !summary.targets_not_pushed.is_empty() {
        printer::warn(format!(
            "Compute targets not pushed: {} (attaching them on the server needs the `owner` role; an owner can push again or `strata compute attach` them there)",
            summary.targets_not_pushed.join(", ")
        ));
    }
    printer::out(format!(
        "Pushed to {url}: {}, {}, {}, {}, {}, {}, {} ({} uploaded)",
        printer::count(summary.environment_versions, "environment version"),
        printer::count(summary.locks, "lock"),
        printer::count(summary.builds, "build"),
        printer::count(summary.runs, "run"),
        printer::count(summary.models, "model version"),
        printer::count(summary.services, "service"),
        printer::count(summary.targets, "compute target"),
        printer::count(summary.blobs, "blob"),
    ));
    Ok(())
}
