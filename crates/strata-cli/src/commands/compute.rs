//! `strata compute ...` and runs on attached targets: the CLI side of `strata-compute`.

use std::path::Path;

use anyhow::Result;
use strata_compute::{Resources, RestSettings, SlurmSettings};
use strata_core::runs;
use strata_store::TargetRecord;

use crate::cli::{AttachArgs, ResourceArgs};
use crate::commands::Context;
use crate::commands::run::runs_error;
use crate::errors::UsageError;
use crate::printer;
use crate::table;

/// `strata compute attach NAME --slurm ...`.
pub(crate) fn attach(context: &Context, args: &AttachArgs) -> Result<()> {
    let opened = context.open()?;
    let launcher: Vec<String> = args
        .launcher
        .as_deref()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let settings = SlurmSettings {
        partition: args.partition.clone(),
        account: args.account.clone(),
        qos: args.qos.clone(),
        launcher,
        node_cache: args.node_cache.clone(),
        shared_cache: args.shared_cache,
        strata_bin: args.strata_bin.clone(),
        rest: match &args.rest_url {
            Some(url) => Some(RestSettings::new(
                url,
                args.rest_api_version.as_deref(),
                args.rest_user.clone(),
            )?),
            None => None,
        },
    };
    // The scheduler answers and has the partition, or nothing is recorded.
    let partitions = runs::check_slurm_target(&args.name, &settings).map_err(runs_error)?;
    let attached = opened
        .block_on(runs::attach_slurm_target(
            opened.records.as_ref(),
            &args.name,
            settings,
            partitions,
        ))
        .map_err(runs_error)?;
    let (record, settings) = (&attached.record, &attached.settings);
    if args.json {
        printer::json(&serde_json::json!({"target": record}));
        return Ok(());
    }
    let through = settings.rest.as_ref().map_or_else(String::new, |rest| {
        format!(
            " through slurmrestd at {}, API {},",
            rest.url, rest.api_version
        )
    });
    printer::note(format!(
        "Attached Slurm target `{}`{through} (partition {}; the cluster has {}); run there with `strata run --target {} ...`",
        record.name,
        settings.partition.as_deref().unwrap_or("default"),
        attached.partitions.join(", "),
        record.name
    ));
    printer::out(&record.name);
    Ok(())
}

fn settings_summary(target: &TargetRecord) -> String {
    match target.settings.as_object() {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// `strata compute list`.
pub(crate) fn list(context: &Context, json: bool) -> Result<()> {
    let opened = context.open()?;
    let targets = opened
        .block_on(runs::list_targets(opened.records.as_ref()))
        .map_err(runs_error)?;
    if json {
        printer::json(&serde_json::json!({"targets": targets}));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = targets
        .iter()
        .map(|t| vec![t.name.clone(), t.kind.clone(), settings_summary(t)])
        .collect();
    printer::out(table::render(&["NAME", "KIND", "SETTINGS"], &rows));
    Ok(())
}

/// `strata compute show NAME`.
pub(crate) fn show(context: &Context, name: &str, json: bool) -> Result<()> {
    let opened = context.open()?;
    let target = opened.block_on(opened.records.get_target(name))?;
    if json {
        printer::json(&serde_json::json!({"target": target}));
        return Ok(());
    }
    let mut rows = vec![
        ("name", target.name.clone()),
        ("kind", target.kind.clone()),
        ("builtin", target.builtin.to_string()),
    ];
    if !target.builtin {
        rows.push(("created", crate::commands::format_time(target.created_at)));
    }
    let settings = settings_summary(&target);
    if !settings.is_empty() {
        rows.push(("settings", settings));
    }
    printer::out(table::key_values(&rows));
    Ok(())
}

/// `strata compute detach NAME`.
pub(crate) fn detach(context: &Context, name: &str) -> Result<()> {
    let opened = context.open()?;
    opened.block_on(opened.records.detach_target(name))?;
    printer::out(format!("Detached {name}"));
    Ok(())
}

/// `strata compute job-step SPEC`: on the node, inside the job.
pub(crate) fn job_step(spec: &Path) -> Result<()> {
    let text = fs_err::read(spec)?;
    let spec: strata_compute::JobSpec = serde_json::from_slice(&text).map_err(|e| {
        UsageError::new(format!(
            "`{}` is not a Strata job spec: {e}",
            spec.display()
        ))
    })?;
    match strata_compute::job_step(&spec) {
        Ok(never) => match never {},
        Err(error) => Err(error.into()),
    }
}

/// What `--cpus`, `--memory`, `--gpus` and `--time` ask for.
pub(crate) fn to_resources(args: &ResourceArgs) -> Resources {
    Resources {
        cpus: args.cpus,
        memory: args.memory.clone(),
        gpus: args.gpus,
        time: args.time.clone(),
    }
}
