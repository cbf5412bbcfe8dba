//! Registering a model: files of a finished run's outputs, or local files, become the next
//! version of a name, with the run's lineage (run, experiment, environment version, lock).
//! Over the interfaces, so it is the same on an embedded and on a server workspace: the
//! files are stored first, the record that points at them second.

use std::path::{Path, PathBuf};

use strata_store::store::{BlobStorage, WorkspaceStore};
use strata_store::{Manifest, ManifestEntry, ModelRecord, RunRecord, StoreError};

use crate::INTERACTIVE_TARGET;
use crate::files::{FileError, Links, read_manifest, store_local, store_manifest};

/// Where a model's files come from.
#[derive(Debug, Clone, Copy)]
pub enum ModelSource<'a> {
    /// The files under `path` (`outputs/...`) of a finished run's stored outputs.
    Run { id: &'a str, path: &'a str },
    /// A local file or directory.
    Local { path: &'a Path },
}

/// Registering a model failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Run `{id}` has no stored outputs ({status})")]
    NoOutputs { id: String, status: String },
    #[error("`{path}` is not under the run's `outputs/`")]
    NotUnderOutputs { path: String, outputs: Vec<String> },
    #[error("Run `{id}` has no `{path}`")]
    NotInRun {
        id: String,
        path: String,
        outputs: Vec<String>,
    },
    #[error("Cannot read `{path}`")]
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
}

impl From<FileError> for ModelError {
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

/// A registered version and the files it holds.
#[derive(Debug, Clone)]
pub struct RegisteredModel {
    pub record: ModelRecord,
    pub manifest: Manifest,
}

/// Registers the next version of `name` from `source`.
pub async fn register_model(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    name: &str,
    source: ModelSource<'_>,
    description: Option<String>,
) -> Result<RegisteredModel, ModelError> {
    strata_store::validate_model_name(name)?;
    let (manifest, lineage, path) = match source {
        ModelSource::Run { id, path } => {
            let run = records.get_run(id).await?;
            let manifest = from_run(blobs, &run, path).await?;
            (manifest, Some(run), path.to_string())
        }
        ModelSource::Local { path } => (
            store_local(blobs, path, Links::Skip).await?,
            None,
            path.display().to_string(),
        ),
    };
    let digest = store_manifest(blobs, &manifest).await?;
    let base = Path::new(&path)
        .file_name()
        .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
    let trained_in = lineage
        .as_ref()
        .filter(|run| run.target != INTERACTIVE_TARGET);
    let record = records
        .register_model(ModelRecord {
            name: name.to_string(),
            version: 0,
            manifest: digest,
            path: base,
            description,
            run_id: lineage.as_ref().map(|r| r.id.clone()),
            experiment: lineage.as_ref().map(|r| r.experiment.clone()),
            env_name: trained_in.map(|r| r.env_name.clone()),
            env_version: trained_in.map(|r| r.env_version.clone()),
            lock_hash: lineage.as_ref().and_then(|r| r.lock_hash.clone()),
            created_at: 0,
        })
        .await?;
    Ok(RegisteredModel { record, manifest })
}

fn output_list(outputs: &Manifest) -> Vec<String> {
    outputs
        .files
        .iter()
        .map(|f| format!("outputs/{}", f.path))
        .collect()
}

/// The files under `path` of a finished run's outputs, re-rooted at the path's parent (so a
/// file keeps its name and a directory its tree).
async fn from_run(
    blobs: &dyn BlobStorage,
    run: &RunRecord,
    path: &str,
) -> Result<Manifest, ModelError> {
    let Some(outputs) = &run.outputs else {
        return Err(ModelError::NoOutputs {
            id: run.id.clone(),
            status: run.status.clone(),
        });
    };
    let outputs = read_manifest(blobs, outputs).await?;
    let relative = path.trim_start_matches("./").trim_end_matches('/');
    let Some(inside) = relative
        .strip_prefix("outputs/")
        .or_else(|| (relative == "outputs").then_some(""))
    else {
        return Err(ModelError::NotUnderOutputs {
            path: path.to_string(),
            outputs: output_list(&outputs),
        });
    };
    let parent = Path::new(inside)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files: Vec<ManifestEntry> = outputs
        .files
        .iter()
        .filter(|f| {
            inside.is_empty() || f.path == inside || f.path.starts_with(&format!("{inside}/"))
        })
        .map(|f| ManifestEntry {
            path: f
                .path
                .strip_prefix(&format!("{parent}/"))
                .unwrap_or(&f.path)
                .to_string(),
            ..f.clone()
        })
        .collect();
    if files.is_empty() {
        return Err(ModelError::NotInRun {
            id: run.id.clone(),
            path: path.to_string(),
            outputs: output_list(&outputs),
        });
    }
    Ok(Manifest { files })
}

#[cfg(test)]
mod tests {
    use strata_store::store::{RunUpdate, SqliteStore};
    use strata_store::{RegisterOptions, Workspace};

    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::init(dir.path()).unwrap();
        (dir, SqliteStore::new(workspace))
    }

    #[tokio::test]
    async fn a_local_directory_is_stored_below_its_name() {
        let (dir, store) = store();
        let model = dir.path().join("weights");
        fs_err::create_dir_all(model.join("layers")).unwrap();
        fs_err::write(model.join("config.json"), "{}").unwrap();
        fs_err::write(model.join("layers/0.bin"), "zero").unwrap();
        let blobs = store.blobs();
        let registered = register_model(
            &store,
            &blobs,
            "net",
            ModelSource::Local { path: &model },
            Some("first".to_string()),
        )
        .await
        .unwrap();
        assert_eq!(registered.record.version, 1);
        assert_eq!(registered.record.path, "weights");
        let paths: Vec<_> = registered
            .manifest
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(paths, ["weights/config.json", "weights/layers/0.bin"]);
        for file in &registered.manifest.files {
            assert!(
                blobs.size(&file.digest).await.unwrap().is_some(),
                "{} stored",
                file.path
            );
        }
        let again = register_model(
            &store,
            &blobs,
            "net",
            ModelSource::Local { path: &model },
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            again.record.version, 2,
            "every registration is a new version"
        );
    }

    #[tokio::test]
    async fn a_run_output_keeps_the_runs_lineage() {
        let (dir, store) = store();
        let blobs = store.blobs();
        let registration = store
            .register_environment(
                strata_spec::Environment::new("env"),
                RegisterOptions::default(),
            )
            .await
            .unwrap();
        let outputs = dir.path().join("outputs");
        fs_err::create_dir_all(&outputs).unwrap();
        fs_err::write(outputs.join("model.pkl"), "pickled").unwrap();
        let stored = register_model(
            &store,
            &blobs,
            "staging",
            ModelSource::Local { path: &outputs },
            None,
        )
        .await
        .unwrap();
        // The run's outputs manifest, as a run stores it: paths relative to `outputs/`.
        let tree = Manifest {
            files: stored
                .manifest
                .files
                .iter()
                .map(|f| ManifestEntry {
                    path: f.path.trim_start_matches("outputs/").to_string(),
                    ..f.clone()
                })
                .collect(),
        };
        let digest = store_manifest(&blobs, &tree).await.unwrap();
        let run = RunRecord {
            id: "run-1".to_string(),
            experiment: "exp".to_string(),
            status: strata_store::QUEUED.to_string(),
            env_name: "env".to_string(),
            env_version: registration.record.version.clone(),
            lock_hash: Some("abc".to_string()),
            script: "train.py".to_string(),
            arguments: Vec::new(),
            source_dir: "/src".to_string(),
            snapshot: None,
            run_dir: dir.path().join("runs/run-1").display().to_string(),
            outputs: None,
            logs: None,
            exit_code: None,
            error: None,
            supervisor_pid: None,
            supervisor_start: None,
            process_group: None,
            cancel_requested: false,
            queued_at: 1,
            preparing_at: None,
            started_at: None,
            finished_at: None,
            target: "local".to_string(),
            image: None,
        };
        store.create_run(&run).await.unwrap();
        let early = register_model(
            &store,
            &blobs,
            "m",
            ModelSource::Run {
                id: "run-1",
                path: "outputs/model.pkl",
            },
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(early, ModelError::NoOutputs { .. }), "{early}");
        store
            .update_run(
                "run-1",
                &RunUpdate::Prepared {
                    lock_hash: "abc".to_string(),
                    image: None,
                },
            )
            .await
            .unwrap();
        store
            .update_run("run-1", &RunUpdate::Running)
            .await
            .unwrap();
        store
            .update_run(
                "run-1",
                &RunUpdate::Finished {
                    status: strata_store::COMPLETED.to_string(),
                    exit_code: Some(0),
                    error: None,
                    outputs: Some(digest),
                    logs: None,
                },
            )
            .await
            .unwrap();
        let registered = register_model(
            &store,
            &blobs,
            "m",
            ModelSource::Run {
                id: "run-1",
                path: "outputs/model.pkl",
            },
            None,
        )
        .await
        .unwrap();
        let record = &registered.record;
        assert_eq!(record.run_id.as_deref(), Some("run-1"));
        assert_eq!(record.env_name.as_deref(), Some("env"));
        assert_eq!(record.lock_hash.as_deref(), Some("abc"));
        assert_eq!(registered.manifest.files[0].path, "model.pkl");
        let outside = register_model(
            &store,
            &blobs,
            "m",
            ModelSource::Run {
                id: "run-1",
                path: "logs/x",
            },
            None,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&outside, ModelError::NotUnderOutputs { outputs, .. } if outputs == &["outputs/model.pkl"]),
            "{outside}"
        );
        let missing = register_model(
            &store,
            &blobs,
            "m",
            ModelSource::Run {
                id: "run-1",
                path: "outputs/nope",
            },
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(missing, ModelError::NotInRun { .. }), "{missing}");
    }
}
