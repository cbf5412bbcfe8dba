//! `strata runs ...`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use strata_core::runs::{self, Cancellation};
use strata_store::store::restore_stored_tree;
use strata_store::{COMPLETED, RunRecord, format_time};

use crate::commands::Context;
use crate::commands::env::show_environment;
use crate::commands::interactive::files_error;
use crate::commands::run::runs_error;
use crate::errors::{ExitWith, UsageError};
use crate::{printer, table};

/// `strata runs list`.
pub(crate) fn list(context: &Context, experiment: Option<&str>, json: bool) -> Result<()> {
    let opened = context.open()?;
    let runs = opened.runs(&strata_store::store::RunQuery {
        experiment: experiment.map(str::to_string),
        status: None,
    })?;
    if json {
        printer::json(&runs);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                run.id.clone(),
                run.experiment.clone(),
                run.status.clone(),
                format!("{}:{}", run.env_name, run.env_version),
                format_time(run.queued_at),
                duration(run),
                run.script.clone(),
            ]
        })
        .collect();
    printer::out(table::render(
        &[
            "RUN",
            "EXPERIMENT",
            "STATUS",
            "ENVIRONMENT",
            "QUEUED",
            "DURATION",
            "SCRIPT",
        ],
        &rows,
    ));
    Ok(())
}

fn duration(run: &RunRecord) -> String {
    match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => format!("{:.1} s", (end - start) as f64 / 1000.0),
        (Some(_), None) => "running".to_string(),
        _ => String::new(),
    }
}

/// `strata runs show ID`.
pub(crate) fn show(context: &Context, id: &str, json: bool) -> Result<()> {
    let opened = context.open()?;
    let strata_core::RunDetails {
        run,
        metrics,
        tags,
        job,
        snapshot,
        outputs,
    } = opened
        .block_on(strata_core::run_details(
            opened.records.as_ref(),
            opened.blobs.as_ref(),
            id,
        ))
        .map_err(files_error)?;
    if json {
        printer::json(&json!({
            "run": run,
            "job": job,
            "environment": {"name": run.env_name, "version": run.env_version, "lockHash": run.lock_hash},
            "snapshot": snapshot.as_ref().map(|s| json!({"digest": run.snapshot, "files": s.files.len(), "bytes": s.total_size()})),
            "metrics": metrics,
            "tags": tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<std::collections::BTreeMap<_, _>>(),
            "outputs": outputs.iter().map(|f| json!({"path": format!("outputs/{}", f.path), "bytes": f.size})).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("Run", run.id.clone()),
        ("Experiment", run.experiment.clone()),
        (
            "Status",
            match run.exit_code {
                Some(code) => format!("{} (exit code {code})", run.status),
                None => run.status.clone(),
            },
        ),
        (
            "Environment",
            format!(
                "{}:{}{}",
                run.env_name,
                run.env_version,
                run.lock_hash
                    .as_deref()
                    .map(|h| format!(" (lock {})", strata_build::short(h)))
                    .unwrap_or_default()
            ),
        ),
        (
            "Script",
            std::iter::once(run.script.clone())
                .chain(run.arguments.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (
            "Snapshot",
            snapshot.as_ref().map_or_else(String::new, |s| {
                format!(
                    "{} from {}",
                    printer::count(s.files.len(), "file"),
                    run.source_dir
                )
            }),
        ),
        ("Queued", format_time(run.queued_at)),
    ];
    if let Some(started) = run.started_at {
        rows.push(("Started", format_time(started)));
    }
    if let Some(finished) = run.finished_at {
        let took = duration(&run);
        rows.push((
            "Finished",
            if took.is_empty() {
                format_time(finished)
            } else {
                format!("{} ({took})", format_time(finished))
            },
        ));
    }
    if let Some(error) = &run.error {
        rows.push(("Error", error.clone()));
    }
    let mut latest: Vec<(String, String)> = Vec::new();
    for metric in &metrics {
        let value = metric.value.to_string();
        match latest.iter_mut().find(|(name, _)| *name == metric.name) {
            Some(entry) => entry.1 = value,
            None => latest.push((metric.name.clone(), value)),
        }
    }
    if !latest.is_empty() {
        rows.push((
            "Metrics",
            latest
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if !tags.is_empty() {
        rows.push((
            "Tags",
            tags.iter()
                .map(|(k, v)| v.as_ref().map_or_else(|| k.clone(), |v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if !outputs.is_empty() {
        rows.push((
            "Outputs",
            outputs
                .iter()
                .map(|f| format!("outputs/{} ({} B)", f.path, f.size))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if run.target == "container" {
        rows.push((
            "Container",
            run.image
                .clone()
                .unwrap_or_else(|| "(image not built yet)".to_string()),
        ));
    }
    if let Some(job) = &job {
        rows.push((
            "Target",
            format!(
                "{} (Slurm job {}, {}{}{}{})",
                run.target,
                job.job_id.as_deref().unwrap_or("not submitted"),
                job.state,
                job.reason
                    .as_deref()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default(),
                job.partition
                    .as_deref()
                    .map(|p| format!(", partition {p}"))
                    .unwrap_or_default(),
                job.node
                    .as_deref()
                    .map(|n| format!(", node {n}"))
                    .unwrap_or_default()
            ),
        ));
    }
    // An interactive run on a server workspace has no directory.
    if !run.run_dir.is_empty() {
        rows.push(("Run directory", run.run_dir.clone()));
    }
    printer::out(table::key_values(&rows));
    Ok(())
}

/// `strata runs logs ID [--follow]`.
pub(crate) fn logs(context: &Context, id: &str, follow: bool) -> Result<()> {
    if context.server_url().is_some() {
        let opened = context.open()?;
        return Ok(opened.block_on(runs::follow_shared_run_log(
            opened.records.as_ref(),
            id,
            follow,
            &mut |bytes: &[u8]| printer::raw_stdout(bytes),
        ))?);
    }
    let workspace = context.open_workspace()?;
    runs::follow_run_log(&workspace, id, follow, &mut |bytes: &[u8]| {
        printer::raw_stdout(bytes)
    })
    .map_err(runs_error)
}

/// `strata runs cancel ID`.
pub(crate) fn cancel(context: &Context, id: &str) -> Result<()> {
    let cancellation = if context.server_url().is_some() {
        let opened = context.open()?;
        opened.block_on(runs::request_cancel(opened.records.as_ref(), id))?
    } else {
        let mut workspace = context.open_workspace()?;
        runs::cancel_run(&mut workspace, id, Duration::from_secs(120)).map_err(runs_error)?
    };
    printer::out(match cancellation {
        Cancellation::AlreadyEnded(run) => format!("Run {id} already ended: {}", run.status),
        Cancellation::Ended(run) => format!("Run {id} {}", run.status),
        Cancellation::Requested(_) => format!(
            "Asked run {id} to stop; the machine running it cancels it (`strata runs wait {id}`)"
        ),
    });
    Ok(())
}

/// `strata runs wait ID`: exits 1 unless the run completed.
pub(crate) fn wait(context: &Context, id: &str) -> Result<()> {
    let run = if context.server_url().is_some() {
        let opened = context.open()?;
        opened.block_on(runs::wait_for_run_in(
            opened.records.as_ref(),
            id,
            Duration::from_millis(300),
        ))?
    } else {
        runs::wait_for_run(&mut context.open_workspace()?, id)?
    };
    printer::out(format!("Run {id} {}", run.status));
    if run.status == COMPLETED {
        Ok(())
    } else {
        Err(ExitWith(1).into())
    }
}

/// `strata runs env ID`.
pub(crate) fn env(context: &Context, id: &str, json: bool) -> Result<()> {
    let opened = context.open()?;
    let records = &opened.records;
    let record = opened.block_on(async {
        let run = records.get_run(id).await?;
        records
            .get_environment(&run.env_name, Some(&run.env_version))
            .await
    })?;
    show_environment(&record, json);
    Ok(())
}

/// `strata runs download ID -d DIR`.
pub(crate) fn download(context: &Context, id: &str, directory: &Path) -> Result<()> {
    let opened = context.open()?;
    let run = opened.block_on(opened.records.get_run(id))?;
    if !run.is_finished() {
        return Err(UsageError::new(format!(
            "Run `{id}` is {}; its outputs are stored when it ends",
            run.status
        ))
        .hint(format!("Wait for it: `strata runs wait {id}`"))
        .into());
    }
    let workspace = crate::commands::model::trees_workspace(context)?;
    let mut count = 0;
    for (digest, sub) in [(&run.outputs, "outputs"), (&run.logs, "logs")] {
        if let Some(digest) = digest {
            count += opened.block_on(restore_stored_tree(
                &workspace,
                opened.blobs.as_ref(),
                digest,
                directory,
                Path::new(sub),
            ))?;
        }
    }
    printer::out(format!(
        "Downloaded {} of run {id} to {}",
        printer::count(count, "file"),
        directory.display()
    ));
    Ok(())
}
