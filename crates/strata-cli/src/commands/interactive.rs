//! Interactive runs (Azure ML's `Experiment.start_logging`): created, logged to, uploaded to
//! and completed by the calling process, one command at a time; and one run's files, listed
//! or written out one by one. The Python API drives these through `--json`.

use std::path::{Component, Path, PathBuf};

use anyhow::Result;
use clap::Args;
use serde_json::json;
use strata_run::{Outcome, Record, prepare_run_dir, read_records};
use strata_store::{CANCELED, COMPLETED, FAILED, RunRecord, Workspace};

use crate::commands::Context;
use crate::errors::UsageError;
use crate::printer;

/// What an interactive run records as its target.
pub(crate) use strata_core::INTERACTIVE_TARGET as INTERACTIVE;

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The experiment the run belongs to.
    #[arg(long, default_value = "default")]
    pub(crate) experiment: String,
    /// Print the run as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    pub(crate) run_id: String,
    /// The metric (or, with `--tag`, the tag) name.
    #[arg(required_unless_present = "jsonl")]
    pub(crate) name: Option<String>,
    /// The value: JSON (`0.93`, `[1, 2]`, `"text"`), else taken as text.
    pub(crate) value: Option<String>,
    /// Log the value as a list metric (`Run.log_list`).
    #[arg(long, conflicts_with = "tag")]
    pub(crate) list: bool,
    /// Set a tag instead of logging a metric; tags may be set on ended runs too.
    #[arg(long)]
    pub(crate) tag: bool,
    /// Records as the in-run module writes them, one JSON object a line (`-` reads stdin):
    /// `{"kind": "scalar"|"list"|"tag", "name": ..., "value": ..., "time": MILLIS}`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "list", "tag"])]
    pub(crate) jsonl: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    pub(crate) run_id: String,
    /// The name in the run: `outputs/...` or `logs/...`.
    pub(crate) name: String,
    /// The local file.
    pub(crate) path: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CompleteArgs {
    pub(crate) run_id: String,
    /// The final status.
    #[arg(long, value_parser = ["Completed", "Failed", "Canceled"], default_value = "Completed")]
    pub(crate) status: String,
    /// Why it failed.
    #[arg(long)]
    pub(crate) error: Option<String>,
    /// A directory whose files become the run's `outputs/` (beside those uploaded).
    #[arg(long, value_name = "DIR")]
    pub(crate) outputs: Option<PathBuf>,
    /// Print the run as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FilesArgs {
    pub(crate) run_id: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FileArgs {
    pub(crate) run_id: String,
    /// The file as `strata runs files` names it (`outputs/model.pkl`).
    pub(crate) name: String,
    /// Where to write it (default: its file name, in the current directory).
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `strata runs create`.
pub(crate) fn create(context: &Context, args: &CreateArgs) -> Result<()> {
    let workspace = context.open_workspace()?;
    let id = crate::commands::run::run_id(&args.experiment);
    let run = RunRecord {
        id: id.clone(),
        experiment: args.experiment.clone(),
        status: strata_store::QUEUED.to_string(),
        env_name: String::new(),
        // An interactive run runs in its caller's Python, in no environment version.
        env_version: strata_spec::EnvironmentVersion::number(0),
        lock_hash: None,
        script: String::new(),
        arguments: Vec::new(),
        source_dir: context.cwd.display().to_string(),
        snapshot: None,
        run_dir: workspace
            .root()
            .join("runs")
            .join(&id)
            .display()
            .to_string(),
        outputs: None,
        logs: None,
        exit_code: None,
        error: None,
        supervisor_pid: None,
        supervisor_start: None,
        process_group: None,
        cancel_requested: false,
        queued_at: strata_store::now_millis(),
        preparing_at: None,
        started_at: None,
        finished_at: None,
        target: INTERACTIVE.to_string(),
        image: None,
    };
    workspace.create_run(&run)?;
    prepare_run_dir(&workspace, &run)?;
    workspace.run_started_interactive(&id)?;
    let run = workspace.get_run(&id)?;
    if args.json {
        printer::json(&json!({"run": run}));
    } else {
        printer::out(&id);
    }
    Ok(())
}

/// The run, which must be an interactive run that has not ended.
fn open_interactive(workspace: &Workspace, id: &str, doing: &str) -> Result<RunRecord> {
    let run = workspace.get_run(id)?;
    if run.target != INTERACTIVE {
        return Err(UsageError::new(format!(
            "Run `{id}` is a submitted run; only its script can {doing}"
        ))
        .hint("Interactive runs come from `strata runs create` (`Experiment.start_logging`)")
        .into());
    }
    if run.is_finished() {
        return Err(UsageError::new(format!(
            "Run `{id}` has ended ({}); it cannot {doing} any more",
            run.status
        ))
        .into());
    }
    Ok(run)
}

/// `strata runs log`.
pub(crate) fn log(context: &Context, args: &LogArgs) -> Result<()> {
    let mut workspace = context.open_workspace()?;
    let records = match (&args.jsonl, &args.name) {
        (Some(file), _) => {
            let path = if file == Path::new("-") {
                PathBuf::from("/dev/stdin")
            } else {
                file.clone()
            };
            if !path.exists() {
                return Err(UsageError::new(format!("No file `{}`", file.display())).into());
            }
            read_records(&path)
        }
        (None, Some(name)) => {
            let value = args.value.as_deref().map(|text| {
                serde_json::from_str::<serde_json::Value>(text)
                    .unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
            });
            if args.tag {
                vec![Record::Tag {
                    key: name.clone(),
                    value: value.map(|v| match v {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    }),
                }]
            } else {
                let Some(value) = value else {
                    return Err(UsageError::new(format!("No value for metric `{name}`"))
                        .hint(format!("strata runs log {} {name} 0.93", args.run_id))
                        .into());
                };
                if args.list && !value.is_array() {
                    return Err(UsageError::new(format!(
                        "`--list` needs a JSON array, such as `[1, 2]`, not `{value}`"
                    ))
                    .into());
                }
                vec![Record::Metric(strata_store::Metric {
                    name: name.clone(),
                    kind: if args.list { "list" } else { "scalar" }.to_string(),
                    value,
                    logged_at: strata_store::now_millis(),
                })]
            }
        }
        (None, None) => unreachable!("clap requires a name or --jsonl"),
    };
    let has_metrics = records.iter().any(|r| matches!(r, Record::Metric(_)));
    if has_metrics {
        open_interactive(&workspace, &args.run_id, "log metrics")?;
    } else {
        workspace.get_run(&args.run_id)?;
    }
    let mut metrics = Vec::new();
    for record in records {
        match record {
            Record::Metric(metric) => metrics.push(metric),
            Record::Tag { key, value } => {
                workspace.set_run_tag(&args.run_id, &key, value.as_deref())?;
            }
        }
    }
    workspace.add_metrics(&args.run_id, &metrics)?;
    Ok(())
}

/// `outputs/a/b.pkl` stays; anything that leaves the run or is outside `outputs/` and `logs/`
/// is refused.
fn run_file_name(name: &str) -> Result<String> {
    let trimmed = name.trim_start_matches("./");
    let path = Path::new(trimmed);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    let top = trimmed.split('/').next().unwrap_or_default();
    if !plain || !matches!(top, "outputs" | "logs") || !trimmed.contains('/') {
        return Err(UsageError::new(format!(
            "`{name}` is not a file name in a run: use `outputs/...` or `logs/...`"
        ))
        .hint("Only a run's outputs/ and logs/ are stored, e.g. `outputs/model.pkl`")
        .into());
    }
    Ok(trimmed.to_string())
}

/// `strata runs upload`.
pub(crate) fn upload(context: &Context, args: &UploadArgs) -> Result<()> {
    let workspace = context.open_workspace()?;
    let run = open_interactive(&workspace, &args.run_id, "take files")?;
    let name = run_file_name(&args.name)?;
    if !args.path.is_file() {
        return Err(UsageError::new(format!("No file `{}`", args.path.display())).into());
    }
    let target = Path::new(&run.run_dir).join(&name);
    if let Some(parent) = target.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::copy(&args.path, &target)?;
    Ok(())
}

/// Copies a directory's files under `target`, keeping their relative paths.
fn copy_dir(source: &Path, target: &Path) -> Result<()> {
    for entry in fs_err::read_dir(source)? {
        let entry = entry?;
        let path = entry.path();
        let destination = target.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            fs_err::create_dir_all(&destination)?;
            copy_dir(&path, &destination)?;
        } else if path.is_file() {
            fs_err::copy(&path, &destination)?;
        }
    }
    Ok(())
}

/// `strata runs complete`.
pub(crate) fn complete(context: &Context, args: &CompleteArgs) -> Result<()> {
    let mut workspace = context.open_workspace()?;
    let run = open_interactive(&workspace, &args.run_id, "end again")?;
    if let Some(outputs) = &args.outputs {
        if outputs.is_dir() {
            let target = Path::new(&run.run_dir).join("outputs");
            fs_err::create_dir_all(&target)?;
            copy_dir(outputs, &target)?;
        } else if outputs.exists() {
            return Err(UsageError::new(format!(
                "`--outputs {}` is not a directory",
                outputs.display()
            ))
            .into());
        }
    }
    let status = match args.status.as_str() {
        "Failed" => FAILED,
        "Canceled" => CANCELED,
        _ => COMPLETED,
    };
    let outcome = Outcome {
        status,
        exit_code: None,
        error: args.error.clone(),
    };
    strata_run::finish(&mut workspace, &run, &outcome)?;
    let run = workspace.get_run(&args.run_id)?;
    if args.json {
        printer::json(&json!({"run": run}));
    } else {
        printer::out(format!("Run {} {}", run.id, run.status));
    }
    Ok(())
}

/// A run file: its name, size and where its bytes are.
struct RunFile {
    name: String,
    size: u64,
    source: FileSource,
}

enum FileSource {
    Blob(String),
    Path(PathBuf),
}

/// The stored `outputs/` and `logs/` of an ended run; the run directory's while it runs.
fn run_files(workspace: &Workspace, run: &RunRecord) -> Result<Vec<RunFile>> {
    if run.is_finished() {
        return stored_files(run, |digest| Ok(workspace.read_manifest(digest)?));
    }
    let mut files = Vec::new();
    for sub in ["outputs", "logs"] {
        walk(&Path::new(&run.run_dir).join(sub), sub, &mut files)?;
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// What a finished run stored of its `outputs/` and `logs/`, read through `read_manifest`.
fn stored_files(
    run: &RunRecord,
    read_manifest: impl Fn(&str) -> Result<strata_store::Manifest>,
) -> Result<Vec<RunFile>> {
    let mut files = Vec::new();
    for (digest, sub) in [(&run.outputs, "outputs"), (&run.logs, "logs")] {
        if let Some(digest) = digest {
            for entry in read_manifest(digest)?.files {
                files.push(RunFile {
                    name: format!("{sub}/{}", entry.path),
                    size: entry.size,
                    source: FileSource::Blob(entry.digest),
                });
            }
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn walk(dir: &Path, prefix: &str, files: &mut Vec<RunFile>) -> Result<()> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &name, files)?;
        } else if kind.is_file() {
            files.push(RunFile {
                name,
                size: entry.metadata()?.len(),
                source: FileSource::Path(entry.path()),
            });
        }
    }
    Ok(())
}

/// A run and its files, from wherever the workspace is.
fn run_and_files(context: &Context, id: &str) -> Result<(RunRecord, Vec<RunFile>, Source)> {
    if context.server_url().is_some() {
        let opened = context.open()?;
        let run = opened.block_on(opened.records.get_run(id))?;
        // Its directory is on the machine that ran it: only what it stored when it ended.
        let files = if run.is_finished() {
            stored_files(&run, |digest| opened.read_manifest(digest))?
        } else {
            Vec::new()
        };
        return Ok((run, files, Source::Remote(opened)));
    }
    let workspace = context.open_workspace()?;
    let run = workspace.get_run(id)?;
    let files = run_files(&workspace, &run)?;
    Ok((run, files, Source::Local(workspace)))
}

enum Source {
    Local(Workspace),
    Remote(crate::commands::remote::Opened),
}

/// `strata runs files`.
pub(crate) fn files(context: &Context, args: &FilesArgs) -> Result<()> {
    let (run, files, _) = run_and_files(context, &args.run_id)?;
    if args.json {
        printer::json(&json!({
            "runId": run.id,
            "status": run.status,
            "files": files.iter().map(|f| json!({"path": f.name, "bytes": f.size})).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    for file in &files {
        printer::out(&file.name);
    }
    Ok(())
}

/// `strata runs file`.
pub(crate) fn file(context: &Context, args: &FileArgs) -> Result<()> {
    let (run, files, source) = run_and_files(context, &args.run_id)?;
    let name = args.name.trim_start_matches("./");
    let Some(found) = files.iter().find(|f| f.name == name) else {
        return Err(
            UsageError::new(format!("Run `{}` has no file `{}`", run.id, args.name))
                .hint(format!("List its files: `strata runs files {}`", run.id))
                .into(),
        );
    };
    let output = match &args.output {
        Some(path) if path.is_dir() => path.join(file_name(name)),
        Some(path) => path.clone(),
        None => context.cwd.join(file_name(name)),
    };
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs_err::create_dir_all(parent)?;
    }
    match (&found.source, &source) {
        (FileSource::Blob(digest), Source::Local(workspace)) => {
            fs_err::write(&output, workspace.blobs().read_verified(digest)?)?;
        }
        (FileSource::Blob(digest), Source::Remote(opened)) => {
            opened.block_on(opened.blobs.get_to_file(digest, &output))?;
        }
        (FileSource::Path(path), _) => {
            fs_err::copy(path, &output)?;
        }
    }
    if args.json {
        printer::json(&json!({"runId": run.id, "name": name, "path": output, "bytes": found.size}));
    } else {
        printer::out(output.display().to_string());
    }
    Ok(())
}

fn file_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// `add-wheel` without `--exist-ok`: a wheel whose file name is stored already is refused, as
/// Azure ML's `add_private_pip_wheel(exist_ok=False)` refuses it.
pub(crate) fn refuse_stored_wheel(workspace: &Workspace, file: &Path) -> Result<()> {
    let Some(filename) = file.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    if let Some(stored) = workspace
        .list_wheels()?
        .into_iter()
        .find(|w| w.filename == filename)
    {
        return Err(UsageError::new(format!(
            "A wheel named `{filename}` is stored already ({})",
            stored.uri
        ))
        .hint("Pass `--exist-ok` to accept it (`exist_ok=True` in Python)")
        .into());
    }
    Ok(())
}
