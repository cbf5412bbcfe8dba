//! Interactive runs (Azure ML's `Experiment.start_logging`): made, logged to, given files and
//! ended by the calling process one call at a time. Over the interfaces, so the same on an
//! embedded and on a server workspace. A run's files are recorded as a run that ran leaves
//! them, the manifests of its `outputs/` and `logs/`, and from the first upload on, so
//! `runs files`, `model register` and the web page see them wherever the caller is: each
//! file is stored first, the manifest naming it second, the record pointing at that third.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use strata_run::Record;
use strata_store::store::{BlobStorage, RunUpdate, WorkspaceStore, state_tag};
use strata_store::{Manifest, ManifestEntry, RunRecord, StoreError};

use crate::files::{FileError, Links, read_manifest, store_local, store_manifest};

/// The target of runs made from an interactive session: they ran in their caller's Python,
/// not in an environment version.
pub const INTERACTIVE_TARGET: &str = "interactive";

/// How often a run's files are recorded again when another writer (an upload from another
/// process) moved the run on between reading it and writing it.
const ATTEMPTS: usize = 8;

/// What a call asked of a run that cannot do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAction {
    LogMetrics,
    TakeFiles,
    End,
}

impl fmt::Display for RunAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LogMetrics => "log metrics",
            Self::TakeFiles => "take files",
            Self::End => "end again",
        })
    }
}

/// An interactive run's call failed.
#[derive(Debug, thiserror::Error)]
pub enum InteractiveRunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Run `{id}` is a submitted run; only its script can {action}")]
    Submitted { id: String, action: RunAction },
    #[error("Run `{id}` has ended ({status}); it cannot {action} any more")]
    Ended {
        id: String,
        status: String,
        action: RunAction,
    },
    #[error("`{name}` is not a file name in a run: use `outputs/...` or `logs/...`")]
    NotARunFile { name: String },
    #[error("No file `{}`", path.display())]
    NoFile { path: PathBuf },
    #[error("`{}` is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("Cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("The stored manifest `{digest}` is not a tree")]
    CorruptManifest {
        digest: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("Run `{id}` kept changing while its files were recorded; try again")]
    Contended {
        id: String,
        #[source]
        source: Box<StoreError>,
    },
}

impl From<FileError> for InteractiveRunError {
    fn from(error: FileError) -> Self {
        match error {
            FileError::Store(error) => Self::Store(error),
            FileError::Read { path, source } => Self::Read { path, source },
            FileError::CorruptManifest { digest, source } => {
                Self::CorruptManifest { digest, source }
            }
        }
    }
}

/// What an interactive run is made with.
#[derive(Debug, Clone)]
pub struct NewInteractiveRun {
    pub id: String,
    pub experiment: String,
    /// Where its caller works.
    pub source_dir: String,
    /// Its directory in an embedded workspace; empty on a server, where it has none.
    pub run_dir: String,
}

/// How an interactive run ends.
#[derive(Debug, Clone)]
pub struct RunEnding<'a> {
    /// `Completed`, `Failed` or `Canceled`.
    pub status: &'a str,
    pub error: Option<String>,
    /// A local directory whose files become the run's `outputs/`, beside (and over) those
    /// uploaded; one that does not exist is none.
    pub outputs: Option<&'a Path>,
}

/// Makes an interactive run, `Running` from now.
pub async fn start_interactive_run(
    records: &dyn WorkspaceStore,
    new: NewInteractiveRun,
) -> Result<RunRecord, InteractiveRunError> {
    // It runs in its caller's Python, in no environment version.
    let run = RunRecord {
        source_dir: new.source_dir,
        ..RunRecord::queued(&new.id, &new.experiment, new.run_dir, INTERACTIVE_TARGET)
    };
    records.create_run(&run).await?;
    Ok(records.update_run(&run.id, &RunUpdate::Running).await?)
}

/// Logs metrics (in one batch) and sets tags. Metrics go to an interactive run that has not
/// ended; tags to any run, an ended one too, as Azure ML allows.
pub async fn log_to_run(
    records: &dyn WorkspaceStore,
    id: &str,
    entries: Vec<Record>,
) -> Result<(), InteractiveRunError> {
    if entries.iter().any(|e| matches!(e, Record::Metric(_))) {
        open_interactive(records, id, RunAction::LogMetrics).await?;
    } else {
        records.get_run(id).await?;
    }
    let mut metrics = Vec::new();
    for entry in entries {
        match entry {
            Record::Metric(metric) => metrics.push(metric),
            Record::Tag { key, value } => records.set_run_tag(id, &key, value.as_deref()).await?,
        }
    }
    if !metrics.is_empty() {
        records.add_metrics(id, &metrics).await?;
    }
    Ok(())
}

/// Stores the local file `path` as `name` (`outputs/...` or `logs/...`) of an interactive run
/// that has not ended, in place of a file of that name; returns the run as it is now.
pub async fn upload_to_run(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    id: &str,
    name: &str,
    path: &Path,
) -> Result<RunRecord, InteractiveRunError> {
    open_interactive(records, id, RunAction::TakeFiles).await?;
    let (tree, inside) = run_file_name(name)?;
    if !path.is_file() {
        return Err(InteractiveRunError::NoFile {
            path: path.to_path_buf(),
        });
    }
    let stored = store_local(blobs, path, Links::FollowToFiles).await?;
    let added: Vec<_> = stored
        .files
        .into_iter()
        .map(|entry| {
            let entry = ManifestEntry {
                path: inside.clone(),
                ..entry
            };
            (tree, entry)
        })
        .collect();
    record_files(records, blobs, id, RunAction::TakeFiles, &added, None).await
}

/// Ends an interactive run: its `outputs/` (the files uploaded and those of
/// `ending.outputs`) and `logs/` recorded, its status and end time set; returns it ended.
pub async fn end_interactive_run(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    id: &str,
    ending: RunEnding<'_>,
) -> Result<RunRecord, InteractiveRunError> {
    open_interactive(records, id, RunAction::End).await?;
    let mut added = Vec::new();
    if let Some(dir) = ending.outputs {
        if dir.is_dir() {
            let stored = store_local(blobs, dir, Links::FollowToFiles).await?;
            for entry in stored.files {
                // Named below the directory's own name; the run's `outputs/` is that directory.
                let inside = entry
                    .path
                    .split_once('/')
                    .map_or(entry.path.as_str(), |(_, rest)| rest)
                    .to_string();
                added.push((
                    Tree::Outputs,
                    ManifestEntry {
                        path: inside,
                        ..entry
                    },
                ));
            }
        } else if dir.exists() {
            return Err(InteractiveRunError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
    }
    record_files(records, blobs, id, RunAction::End, &added, Some(&ending)).await
}

/// The run, which must be an interactive run that has not ended.
async fn open_interactive(
    records: &dyn WorkspaceStore,
    id: &str,
    action: RunAction,
) -> Result<RunRecord, InteractiveRunError> {
    let run = records.get_run(id).await?;
    if run.target != INTERACTIVE_TARGET {
        return Err(InteractiveRunError::Submitted {
            id: id.to_string(),
            action,
        });
    }
    if run.is_finished() {
        return Err(InteractiveRunError::Ended {
            id: id.to_string(),
            status: run.status,
            action,
        });
    }
    Ok(run)
}

/// Which of a run's trees a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    Outputs,
    Logs,
}

/// `outputs/a/b.pkl` is `b.pkl` in `a/` of the outputs; anything that leaves the run or is
/// outside `outputs/` and `logs/` is refused.
fn run_file_name(name: &str) -> Result<(Tree, String), InteractiveRunError> {
    let trimmed = name.trim_start_matches("./");
    let plain = Path::new(trimmed)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    let refused = || InteractiveRunError::NotARunFile {
        name: name.to_string(),
    };
    let (top, inside) = trimmed.split_once('/').ok_or_else(refused)?;
    let tree = match top {
        "outputs" => Tree::Outputs,
        "logs" => Tree::Logs,
        _ => return Err(refused()),
    };
    let inside = inside.trim_end_matches('/');
    if !plain || inside.is_empty() {
        return Err(refused());
    }
    Ok((tree, inside.to_string()))
}

/// Records `added` in the run's trees, from the state it was read in; with `ending`, as it
/// ends (both trees recorded, empty ones too, as a run that ran leaves them). Read again
/// when another writer moved the run on in between, so no upload is lost.
async fn record_files(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    id: &str,
    action: RunAction,
    added: &[(Tree, ManifestEntry)],
    ending: Option<&RunEnding<'_>>,
) -> Result<RunRecord, InteractiveRunError> {
    let mut attempt = 1;
    loop {
        let run = open_interactive(records, id, action).await?;
        let outputs = updated_tree(blobs, &run.outputs, Tree::Outputs, added, ending).await?;
        let logs = updated_tree(blobs, &run.logs, Tree::Logs, added, ending).await?;
        let update = match ending {
            Some(ending) => RunUpdate::Finished {
                status: ending.status.to_string(),
                exit_code: None,
                error: ending.error.clone(),
                outputs: outputs.or_else(|| run.outputs.clone()),
                logs: logs.or_else(|| run.logs.clone()),
            },
            None => RunUpdate::Files { outputs, logs },
        };
        match records
            .update_run_if_match(id, &update, &state_tag(&run))
            .await
        {
            Ok(run) => return Ok(run),
            Err(StoreError::PreconditionFailed { .. }) if attempt < ATTEMPTS => attempt += 1,
            Err(source @ StoreError::PreconditionFailed { .. }) => {
                return Err(InteractiveRunError::Contended {
                    id: id.to_string(),
                    source: Box::new(source),
                });
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// The digest of `tree` with the files of `added` that belong in it, stored; `None` when it
/// is recorded already and nothing changes.
async fn updated_tree(
    blobs: &dyn BlobStorage,
    recorded: &Option<String>,
    tree: Tree,
    added: &[(Tree, ManifestEntry)],
    ending: Option<&RunEnding<'_>>,
) -> Result<Option<String>, InteractiveRunError> {
    let mut entries = added.iter().filter(|(t, _)| *t == tree).peekable();
    if entries.peek().is_none() && (recorded.is_some() || ending.is_none()) {
        return Ok(None);
    }
    let mut manifest = match recorded {
        Some(digest) => read_manifest(blobs, digest).await?,
        None => Manifest::default(),
    };
    for (_, entry) in entries {
        manifest.files.retain(|f| f.path != entry.path);
        manifest.files.push(entry.clone());
    }
    manifest.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Some(store_manifest(blobs, &manifest).await?))
}

#[cfg(test)]
mod tests {
    use strata_store::Workspace;
    use strata_store::store::SqliteStore;

    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::init(&dir.path().join("ws")).unwrap();
        (dir, SqliteStore::new(workspace))
    }

    async fn start(store: &SqliteStore, id: &str) -> RunRecord {
        start_interactive_run(
            store,
            NewInteractiveRun {
                id: id.to_string(),
                experiment: "notebook".to_string(),
                source_dir: "/src".to_string(),
                run_dir: String::new(),
            },
        )
        .await
        .unwrap()
    }

    fn metric(name: &str, value: serde_json::Value) -> Record {
        Record::Metric(strata_store::Metric {
            name: name.to_string(),
            kind: "scalar".to_string(),
            value,
            logged_at: 1,
        })
    }

    async fn paths(blobs: &dyn BlobStorage, digest: Option<&str>) -> Vec<(String, u64)> {
        let manifest = read_manifest(blobs, digest.expect("a recorded tree"))
            .await
            .unwrap();
        manifest
            .files
            .into_iter()
            .map(|f| (f.path, f.size))
            .collect()
    }

    #[tokio::test]
    async fn a_run_is_logged_to_given_files_and_ended() {
        let (dir, store) = store();
        let blobs = store.blobs();
        let run = start(&store, "nb-1").await;
        assert_eq!(run.status, strata_store::RUNNING);
        assert!(run.started_at.is_some());
        assert_eq!(run.target, INTERACTIVE_TARGET);

        log_to_run(
            &store,
            "nb-1",
            vec![
                metric("loss", serde_json::json!(0.5)),
                Record::Tag {
                    key: "team".to_string(),
                    value: Some("ml".to_string()),
                },
                metric("loss", serde_json::json!(0.25)),
            ],
        )
        .await
        .unwrap();
        let metrics = store.run_metrics("nb-1").await.unwrap();
        assert_eq!(metrics.len(), 2, "{metrics:?}");
        assert_eq!(
            store.run_tags("nb-1").await.unwrap(),
            [("team".to_string(), Some("ml".to_string()))]
        );

        let model = dir.path().join("model.pkl");
        fs_err::write(&model, "weights").unwrap();
        let uploaded = upload_to_run(&store, &blobs, "nb-1", "outputs/model.pkl", &model)
            .await
            .unwrap();
        assert_eq!(
            paths(&blobs, uploaded.outputs.as_deref()).await,
            [("model.pkl".to_string(), 7)],
            "an upload is recorded while the run runs"
        );
        fs_err::write(&model, "better weights").unwrap();
        let log = dir.path().join("train.log");
        fs_err::write(&log, "epoch 1").unwrap();
        upload_to_run(&store, &blobs, "nb-1", "./outputs/model.pkl", &model)
            .await
            .unwrap();
        upload_to_run(&store, &blobs, "nb-1", "logs/train.log", &log)
            .await
            .unwrap();

        let outputs = dir.path().join("outputs");
        fs_err::create_dir_all(outputs.join("plots")).unwrap();
        fs_err::write(outputs.join("plots/loss.svg"), "<svg/>").unwrap();
        let ended = end_interactive_run(
            &store,
            &blobs,
            "nb-1",
            RunEnding {
                status: strata_store::COMPLETED,
                error: None,
                outputs: Some(&outputs),
            },
        )
        .await
        .unwrap();
        assert_eq!(ended.status, strata_store::COMPLETED);
        assert!(ended.finished_at.is_some());
        assert_eq!(
            paths(&blobs, ended.outputs.as_deref()).await,
            [
                ("model.pkl".to_string(), 14),
                ("plots/loss.svg".to_string(), 6)
            ],
            "the latest upload of a name, and the outputs directory beside it"
        );
        assert_eq!(
            paths(&blobs, ended.logs.as_deref()).await,
            [("train.log".to_string(), 7)]
        );
    }

    #[tokio::test]
    async fn an_ending_without_files_records_empty_trees() {
        let (_dir, store) = store();
        let blobs = store.blobs();
        start(&store, "nb-2").await;
        let ended = end_interactive_run(
            &store,
            &blobs,
            "nb-2",
            RunEnding {
                status: strata_store::FAILED,
                error: Some("ValueError: boom".to_string()),
                outputs: Some(Path::new("/nonexistent/outputs")),
            },
        )
        .await
        .unwrap();
        assert_eq!(ended.status, strata_store::FAILED);
        assert_eq!(ended.error.as_deref(), Some("ValueError: boom"));
        assert!(paths(&blobs, ended.outputs.as_deref()).await.is_empty());
        assert!(paths(&blobs, ended.logs.as_deref()).await.is_empty());
    }

    #[tokio::test]
    async fn an_ended_run_takes_tags_but_no_metrics_files_or_second_end() {
        let (dir, store) = store();
        let blobs = store.blobs();
        start(&store, "nb-3").await;
        let ending = || RunEnding {
            status: strata_store::CANCELED,
            error: None,
            outputs: None,
        };
        end_interactive_run(&store, &blobs, "nb-3", ending())
            .await
            .unwrap();
        log_to_run(
            &store,
            "nb-3",
            vec![Record::Tag {
                key: "reviewed".to_string(),
                value: None,
            }],
        )
        .await
        .unwrap();
        let late = log_to_run(&store, "nb-3", vec![metric("loss", serde_json::json!(1))])
            .await
            .unwrap_err();
        assert_eq!(
            late.to_string(),
            "Run `nb-3` has ended (Canceled); it cannot log metrics any more"
        );
        let file = dir.path().join("f");
        fs_err::write(&file, "x").unwrap();
        let upload = upload_to_run(&store, &blobs, "nb-3", "outputs/f", &file)
            .await
            .unwrap_err();
        assert!(
            matches!(
                upload,
                InteractiveRunError::Ended {
                    action: RunAction::TakeFiles,
                    ..
                }
            ),
            "{upload}"
        );
        let again = end_interactive_run(&store, &blobs, "nb-3", ending())
            .await
            .unwrap_err();
        assert_eq!(
            again.to_string(),
            "Run `nb-3` has ended (Canceled); it cannot end again any more"
        );
    }

    #[tokio::test]
    async fn unknown_runs_and_names_outside_the_run_are_refused() {
        let (dir, store) = store();
        let blobs = store.blobs();
        let unknown = log_to_run(&store, "nope", vec![metric("a", serde_json::json!(1))])
            .await
            .unwrap_err();
        assert!(
            matches!(
                unknown,
                InteractiveRunError::Store(StoreError::NotFound { .. })
            ),
            "{unknown}"
        );
        start(&store, "nb-4").await;
        let file = dir.path().join("f");
        fs_err::write(&file, "x").unwrap();
        for name in [
            "../escape.pkl",
            "model.pkl",
            "outputs",
            "outputs/",
            "outputs/../x",
            "/outputs/x",
            "snapshot/x",
        ] {
            let refused = upload_to_run(&store, &blobs, "nb-4", name, &file)
                .await
                .unwrap_err();
            assert_eq!(
                refused.to_string(),
                format!("`{name}` is not a file name in a run: use `outputs/...` or `logs/...`")
            );
        }
        let missing = upload_to_run(
            &store,
            &blobs,
            "nb-4",
            "outputs/x",
            &dir.path().join("absent"),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(missing, InteractiveRunError::NoFile { .. }),
            "{missing}"
        );
        let run = store.get_run("nb-4").await.unwrap();
        assert_eq!(run.outputs, None, "nothing refused is recorded");
    }

    #[tokio::test]
    async fn a_submitted_run_takes_no_metrics() {
        let (_dir, store) = store();
        let mut run = start(&store, "nb-5").await;
        run.id = "submitted".to_string();
        run.target = "local".to_string();
        run.status = strata_store::QUEUED.to_string();
        store.create_run(&run).await.unwrap();
        let refused = log_to_run(&store, "submitted", vec![metric("a", serde_json::json!(1))])
            .await
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Run `submitted` is a submitted run; only its script can log metrics"
        );
    }
}
