//! Interactive runs (Azure ML's `Experiment.start_logging`): created, logged to, uploaded to
//! and completed by the calling process, one command at a time, on an embedded or a server
//! workspace ([`strata_core::start_interactive_run`] and the rest); and one run's files,
//! listed or written out one by one. The Python API drives these through `--json`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use serde_json::json;
use strata_core::{InteractiveRunError, NewInteractiveRun, RunEnding, RunFilesError};
use strata_run::{Record, read_records};
use strata_store::Workspace;

use crate::commands::Context;
use crate::errors::UsageError;
use crate::printer;

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

/// `strata runs create`, on an embedded or a server workspace.
pub(crate) fn create(context: &Context, args: &CreateArgs) -> Result<()> {
    let opened = context.open()?;
    let id = crate::commands::run::run_id(&args.experiment);
    let run_dir = opened.local.as_ref().map_or_else(String::new, |root| {
        root.join("runs").join(&id).display().to_string()
    });
    let run = opened
        .block_on(strata_core::start_interactive_run(
            opened.records.as_ref(),
            NewInteractiveRun {
                id,
                experiment: args.experiment.clone(),
                source_dir: context.cwd.display().to_string(),
                run_dir,
            },
        ))
        .map_err(rendered)?;
    if args.json {
        printer::json(&json!({"run": run}));
    } else {
        printer::out(&run.id);
    }
    Ok(())
}

/// A use case's refusal, as the CLI shows it.
fn rendered(error: InteractiveRunError) -> anyhow::Error {
    let message = error.to_string();
    match error {
        InteractiveRunError::Store(error) => error.into(),
        InteractiveRunError::Submitted { .. } => UsageError::new(message)
            .hint("Interactive runs come from `strata runs create` (`Experiment.start_logging`)")
            .into(),
        InteractiveRunError::NotARunFile { .. } => UsageError::new(message)
            .hint("Only a run's outputs/ and logs/ are stored, e.g. `outputs/model.pkl`")
            .into(),
        InteractiveRunError::NotADirectory { path } => {
            UsageError::new(format!("`--outputs {}` is not a directory", path.display())).into()
        }
        InteractiveRunError::Read { source, .. } => {
            UsageError::new(format!("{message}: {source}")).into()
        }
        InteractiveRunError::Ended { .. } | InteractiveRunError::NoFile { .. } => {
            UsageError::new(message).into()
        }
        error @ (InteractiveRunError::CorruptManifest { .. }
        | InteractiveRunError::Contended { .. }) => error.into(),
    }
}

/// `strata runs log`.
pub(crate) fn log(context: &Context, args: &LogArgs) -> Result<()> {
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
    let opened = context.open()?;
    opened
        .block_on(strata_core::log_to_run(
            opened.records.as_ref(),
            &args.run_id,
            records,
        ))
        .map_err(rendered)
}

/// `strata runs upload`.
pub(crate) fn upload(context: &Context, args: &UploadArgs) -> Result<()> {
    let opened = context.open()?;
    opened
        .block_on(strata_core::upload_to_run(
            opened.records.as_ref(),
            opened.blobs.as_ref(),
            &args.run_id,
            &args.name,
            &args.path,
        ))
        .map_err(rendered)?;
    Ok(())
}

/// `strata runs complete`.
pub(crate) fn complete(context: &Context, args: &CompleteArgs) -> Result<()> {
    let opened = context.open()?;
    let run = opened
        .block_on(strata_core::end_interactive_run(
            opened.records.as_ref(),
            opened.blobs.as_ref(),
            &args.run_id,
            RunEnding {
                status: &args.status,
                error: args.error.clone(),
                outputs: args.outputs.as_deref(),
            },
        ))
        .map_err(rendered)?;
    if args.json {
        printer::json(&json!({"run": run}));
    } else {
        printer::out(format!("Run {} {}", run.id, run.status));
    }
    Ok(())
}

/// A run file: its name, size and where its bytes are.
/// `strata runs files`.
pub(crate) fn files(context: &Context, args: &FilesArgs) -> Result<()> {
    let opened = context.open()?;
    let (run, files) = opened
        .block_on(strata_core::run_files(
            opened.records.as_ref(),
            opened.blobs.as_ref(),
            &args.run_id,
            !opened.is_remote(),
        ))
        .map_err(files_error)?;
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
    let opened = context.open()?;
    let name = args.name.trim_start_matches("./");
    let output = match &args.output {
        Some(path) if path.is_dir() => path.join(file_name(name)),
        Some(path) => path.clone(),
        None => context.cwd.join(file_name(name)),
    };
    let (run, found) = opened
        .block_on(strata_core::download_run_file(
            opened.records.as_ref(),
            opened.blobs.as_ref(),
            &args.run_id,
            &args.name,
            &output,
            !opened.is_remote(),
        ))
        .map_err(files_error)?;
    if args.json {
        printer::json(&json!({"runId": run.id, "name": name, "path": output, "bytes": found.size}));
    } else {
        printer::out(output.display().to_string());
    }
    Ok(())
}

/// A run's files' error, as the CLI shows it.
pub(crate) fn files_error(error: RunFilesError) -> anyhow::Error {
    match error {
        RunFilesError::Store(error) => error.into(),
        error @ RunFilesError::NoSuchFile { .. } => {
            let hint = error.hint().unwrap_or_default();
            UsageError::new(error.to_string()).hint(hint).into()
        }
        error => error.into(),
    }
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
