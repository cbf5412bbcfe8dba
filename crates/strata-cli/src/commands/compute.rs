//! `strata compute ...` and runs on attached targets: the CLI side of `strata-compute`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use strata_compute::{
    EnvSource, JobInfo, Progress, Resources, RestSettings, SlurmSettings, Submission, ensure_pack,
};
use strata_run::{Outcome, OutputSink};
use strata_store::{CANCELED, FAILED, RunJob, RunRecord, TargetRecord, Workspace};

use crate::cli::{AttachArgs, ResourceArgs};
use crate::commands::Context;
use crate::commands::build::ensure_built;
use crate::errors::UsageError;
use crate::printer;
use crate::progress::TerminalReporter;
use crate::table;

/// `strata compute attach NAME --slurm ...`.
pub(crate) fn attach(context: &Context, args: &AttachArgs) -> Result<()> {
    let workspace = context.open_workspace()?;
    strata_store::validate_target_name(&args.name)?;
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
    let partitions = strata_compute::connect(&settings)?.check(settings.partition.as_deref())?;
    let record = workspace.attach_target(
        &args.name,
        "slurm",
        &serde_json::to_value(&settings).unwrap_or_default(),
    )?;
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
        partitions.join(", "),
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
    let workspace = context.open_workspace()?;
    let targets = workspace.list_targets()?;
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
    let workspace = context.open_workspace()?;
    let target = workspace.get_target(name)?;
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
    let workspace = context.open_workspace()?;
    workspace.detach_target(name)?;
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

fn slurm_settings(target: &TargetRecord) -> Result<SlurmSettings> {
    serde_json::from_value(target.settings.clone()).map_err(|e| {
        UsageError::new(format!(
            "The settings of compute target `{}` are invalid: {e}",
            target.name
        ))
        .hint(format!(
            "Attach it again: `strata compute detach {0}` then `strata compute attach {0} --slurm ...`",
            target.name
        ))
        .into()
    })
}

/// For `strata run --target NAME`: the target's kind (`local`, `container`, `slurm`) after
/// checking, before anything is recorded, that it exists, its scheduler answers, and the
/// resources asked for are valid.
pub(crate) fn check_target(
    workspace: &Workspace,
    name: &str,
    resources: &ResourceArgs,
) -> Result<String> {
    let target = workspace.get_target(name)?;
    let asked = resources.cpus.is_some()
        || resources.memory.is_some()
        || resources.gpus.is_some()
        || resources.time.is_some();
    match target.kind.as_str() {
        "slurm" => {
            let settings = slurm_settings(&target)?;
            to_resources(resources).amounts()?;
            strata_compute::connect(&settings)?.check(settings.partition.as_deref())?;
        }
        _ if asked => {
            return Err(UsageError::new(format!(
                "`--cpus`, `--memory`, `--gpus` and `--time` are for scheduler targets; `{name}` runs on this machine"
            ))
            .hint("Leave them out, or pick a Slurm target (`strata compute list`)")
            .into());
        }
        _ => {}
    }
    Ok(target.kind)
}

fn to_resources(args: &ResourceArgs) -> Resources {
    Resources {
        cpus: args.cpus,
        memory: args.memory.clone(),
        gpus: args.gpus,
        time: args.time.clone(),
    }
}

/// Settles runs whose supervisor died (as `strata_run::reap_orphans`), first cancelling the
/// Slurm job such a run submitted: nothing follows that job any more, so it must not go on
/// using the cluster for a run already marked failed.
pub(crate) fn reap_orphans(workspace: &mut Workspace) -> Vec<String> {
    strata_run::reap_orphans_with(workspace, &mut |workspace, run| {
        let job_id = workspace.get_run_job(&run.id).ok()??.job_id?;
        let target = workspace.get_target(&run.target).ok()?;
        if target.kind != "slurm" {
            return None;
        }
        let stopped = slurm_settings(&target)
            .and_then(|settings| Ok(strata_compute::connect(&settings)?))
            .and_then(|engine| {
                // A job that ended meanwhile is not canceled (Slurm would refuse), only told.
                match engine.query(&job_id)? {
                    Some(info) if info.job_state().is_finished() => Ok(format!(
                        "its Slurm job {job_id} had already ended ({})",
                        info.state
                    )),
                    None => Ok(format!("Slurm no longer knows its job {job_id}")),
                    Some(_) => {
                        engine.cancel(&job_id)?;
                        Ok(format!(
                            "its Slurm job {job_id} was canceled ({})",
                            engine.cancel_label()
                        ))
                    }
                }
            });
        Some(match stopped {
            Ok(what) => what,
            Err(error) => format!(
                "canceling its Slurm job {job_id} failed ({error:#}); cancel it with `scancel {job_id}`"
            ),
        })
    })
}

/// Records what a queued Slurm run asks for, for its supervisor.
pub(crate) fn record_resources(
    workspace: &Workspace,
    run: &RunRecord,
    resources: &ResourceArgs,
) -> Result<()> {
    workspace.set_run_job(&RunJob {
        run_id: run.id.clone(),
        target: run.target.clone(),
        job_id: None,
        resources: serde_json::to_value(to_resources(resources)).unwrap_or_default(),
        partition: None,
        node: None,
        state: "UNSUBMITTED".to_string(),
        reason: None,
        updated_at: strata_store::now_millis(),
    })?;
    Ok(())
}

struct NoteProgress {
    target: String,
}

impl Progress for NoteProgress {
    fn submitted(&self, job_id: &str) {
        printer::note(format!("Submitted Slurm job {job_id} to `{}`", self.target));
    }

    fn state(&self, info: &JobInfo) {
        tracing::debug!(
            "job state {} on {} ({})",
            info.state,
            info.node.as_deref().unwrap_or("-"),
            info.reason.as_deref().unwrap_or("-")
        );
    }
}

/// Supervises a run on a Slurm target: builds the environment here, makes its pack, submits,
/// and follows the job to its end.
pub(crate) fn supervise_slurm(
    workspace: &mut Workspace,
    run: &RunRecord,
    sink: Arc<dyn OutputSink>,
) -> Result<Outcome> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let mut hooks = Vec::new();
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        if let Ok(id) = signal_hook::flag::register(signal, Arc::clone(&interrupted)) {
            hooks.push(id);
        }
    }
    let result = submit_and_watch(workspace, run, sink, &interrupted);
    for id in hooks {
        signal_hook::low_level::unregister(id);
    }
    match result {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            let current = workspace.get_run(&run.id)?;
            if !current.is_finished() {
                workspace.run_finished(
                    &run.id,
                    FAILED,
                    None,
                    Some(&format!("{error:#}")),
                    None,
                    None,
                )?;
            }
            Err(error)
        }
    }
}

fn submit_and_watch(
    workspace: &mut Workspace,
    run: &RunRecord,
    sink: Arc<dyn OutputSink>,
    interrupted: &Arc<AtomicBool>,
) -> Result<Outcome> {
    let target = workspace.get_target(&run.target)?;
    let settings = slurm_settings(&target)?;
    let resources: Resources = workspace
        .get_run_job(&run.id)?
        .and_then(|job| serde_json::from_value(job.resources).ok())
        .unwrap_or_default();
    let reporter = TerminalReporter::new();
    let built = ensure_built(workspace, &run.env_name, Some(&run.env_version), &reporter)?;
    drop(reporter);
    workspace.run_prepared(&run.id, &built.lock.lock_hash)?;
    let run = workspace.get_run(&run.id)?;
    strata_run::prepare_run_dir(workspace, &run)?;
    if run.cancel_requested {
        let outcome = Outcome {
            status: CANCELED,
            exit_code: None,
            error: Some("Canceled before it was submitted".to_string()),
        };
        strata_run::finish(workspace, &run, &outcome)?;
        return Ok(outcome);
    }
    let env = if settings.shared_cache {
        EnvSource::Prefix {
            path: built.prefix.path.clone(),
            python: built.prefix.python.clone(),
        }
    } else {
        let (_, path) = ensure_pack(
            workspace,
            &built.lock.lock_hash,
            &built.prefix.path,
            &built.prefix.python,
        )?;
        EnvSource::Pack {
            path,
            lock_hash: built.lock.lock_hash.clone(),
            node_cache: settings.node_cache.clone(),
        }
    };
    let mut variables: std::collections::BTreeMap<String, String> = built
        .record
        .environment
        .variables()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    variables.insert(
        "STRATA_ENVIRONMENT".to_string(),
        format!("{}:{}", built.record.name, built.record.version),
    );
    let strata_bin = match &settings.strata_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?,
    };
    let engine = strata_compute::connect(&settings)?;
    let progress = NoteProgress {
        target: run.target.clone(),
    };
    let job_id = strata_compute::submit(
        workspace,
        engine.as_ref(),
        &Submission {
            run: &run,
            target: &run.target,
            settings: &settings,
            resources: &resources,
            env,
            variables,
            strata_bin,
        },
        &progress,
    )?;
    let outcome = strata_compute::watch(
        workspace,
        &run,
        engine.as_ref(),
        &job_id,
        sink,
        interrupted,
        &progress,
    )?;
    // The prefix stays leased (safe from `cache gc`) until the job has ended.
    drop(built);
    Ok(outcome)
}
