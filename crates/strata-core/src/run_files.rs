//! A run's files (`strata runs files|file`, `Run.get_file_names`, `Run.download_file`): what
//! its `outputs/` and `logs/` trees hold, an interactive run's uploads included, and while it
//! executes on this machine, what its directory holds so far.

use std::path::{Path, PathBuf};

use strata_store::store::{BlobStorage, WorkspaceStore};
use strata_store::{Manifest, ManifestEntry, Metric, RunJob, RunRecord, StoreError};

use crate::files::{FileError, read_manifest};

/// Why a run's files could not be listed or written.
#[derive(Debug, thiserror::Error)]
pub enum RunFilesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Run `{id}` has no file `{name}`")]
    NoSuchFile { id: String, name: String },
    #[error("Cannot read or write `{}`", path.display())]
    Io {
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

impl RunFilesError {
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoSuchFile { id, .. } => {
                Some(format!("List its files: `strata runs files {id}`"))
            }
            _ => None,
        }
    }
}

impl From<FileError> for RunFilesError {
    fn from(error: FileError) -> Self {
        match error {
            FileError::Store(error) => Self::Store(error),
            FileError::Read { path, source } => Self::Io { path, source },
            FileError::CorruptManifest { digest, source } => {
                Self::CorruptManifest { digest, source }
            }
        }
    }
}

/// One file of a run, named `outputs/...` or `logs/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFile {
    pub name: String,
    pub size: u64,
    pub source: RunFileSource,
}

/// Where a run's file is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunFileSource {
    /// Stored in the workspace.
    Blob(String),
    /// Written by a run executing on this machine, not stored yet.
    Path(PathBuf),
}

/// A run as `strata runs show` (and `Run.get_details`) presents it.
#[derive(Debug)]
pub struct RunDetails {
    pub run: RunRecord,
    /// Every value logged, oldest first.
    pub metrics: Vec<Metric>,
    pub tags: Vec<(String, Option<String>)>,
    /// Its job on a compute target's scheduler, as the submitting machine reported it.
    pub job: Option<RunJob>,
    /// The manifest of its snapshot.
    pub snapshot: Option<Manifest>,
    /// The files of its `outputs/` tree (named inside it).
    pub outputs: Vec<ManifestEntry>,
}

/// The run `id` with its metrics, tags, scheduler job, snapshot and outputs.
pub async fn run_details(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    id: &str,
) -> Result<RunDetails, RunFilesError> {
    let run = records.get_run(id).await?;
    let metrics = records.run_metrics(id).await?;
    let tags = records.run_tags(id).await?;
    let job = records.get_run_job(id).await?;
    let outputs = match &run.outputs {
        Some(digest) => read_manifest(blobs, digest).await?.files,
        None => Vec::new(),
    };
    let snapshot = match &run.snapshot {
        Some(digest) => Some(read_manifest(blobs, digest).await?),
        None => None,
    };
    Ok(RunDetails {
        run,
        metrics,
        tags,
        job,
        snapshot,
        outputs,
    })
}

/// The run `id` and its files, sorted by name: those it stored, and, when `here` (its
/// workspace is on this machine) and it has not ended, those in its directory so far.
pub async fn run_files(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    id: &str,
    here: bool,
) -> Result<(RunRecord, Vec<RunFile>), RunFilesError> {
    let run = records.get_run(id).await?;
    let mut files = Vec::new();
    for (digest, tree) in [(&run.outputs, "outputs"), (&run.logs, "logs")] {
        if let Some(digest) = digest {
            for entry in read_manifest(blobs, digest).await?.files {
                files.push(RunFile {
                    name: format!("{tree}/{}", entry.path),
                    size: entry.size,
                    source: RunFileSource::Blob(entry.digest),
                });
            }
        }
    }
    // A run's directory is on the machine that executes it: elsewhere only what it stored
    // is seen.
    if here && !run.is_finished() {
        let mut written = Vec::new();
        for tree in ["outputs", "logs"] {
            walk(&Path::new(&run.run_dir).join(tree), tree, &mut written)?;
        }
        written.retain(|file| files.iter().all(|stored| stored.name != file.name));
        files.extend(written);
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((run, files))
}

/// Writes the run's file `name` (`./` allowed in front) to `output`; returns the run and
/// the file.
pub async fn download_run_file(
    records: &dyn WorkspaceStore,
    blobs: &dyn BlobStorage,
    id: &str,
    name: &str,
    output: &Path,
    here: bool,
) -> Result<(RunRecord, RunFile), RunFilesError> {
    let (run, files) = run_files(records, blobs, id, here).await?;
    let wanted = name.trim_start_matches("./");
    let Some(file) = files.into_iter().find(|f| f.name == wanted) else {
        return Err(RunFilesError::NoSuchFile {
            id: run.id,
            name: name.to_string(),
        });
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunFilesError::Io { path, source }
    };
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs_err::create_dir_all(parent).map_err(io(parent))?;
    }
    match &file.source {
        RunFileSource::Blob(digest) => blobs.get_to_file(digest, output).await?,
        RunFileSource::Path(path) => {
            fs_err::copy(path, output).map_err(io(output))?;
        }
    }
    Ok((run, file))
}

fn walk(dir: &Path, prefix: &str, files: &mut Vec<RunFile>) -> Result<(), RunFilesError> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Ok(());
    };
    let io = |source| RunFilesError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in entries {
        let entry = entry.map_err(io)?;
        let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            walk(&entry.path(), &name, files)?;
        } else if kind.is_file() {
            files.push(RunFile {
                name,
                size: entry.metadata().map_err(io)?.len(),
                source: RunFileSource::Path(entry.path()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use strata_store::Workspace;
    use strata_store::store::SqliteStore;

    use super::*;
    use crate::{NewInteractiveRun, start_interactive_run, upload_to_run};

    #[tokio::test]
    async fn stored_files_and_those_a_running_run_wrote_here_are_listed_and_downloaded() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::new(Workspace::init(&dir.path().join("ws")).unwrap());
        let blobs = store.blobs();
        let run_dir = dir.path().join("run");
        let new = NewInteractiveRun {
            id: "files-1".to_string(),
            experiment: "e".to_string(),
            source_dir: dir.path().display().to_string(),
            run_dir: run_dir.display().to_string(),
        };
        start_interactive_run(&store, new).await.unwrap();
        let upload = dir.path().join("notes.txt");
        fs_err::write(&upload, "uploaded").unwrap();
        upload_to_run(&store, &blobs, "files-1", "logs/notes.txt", &upload)
            .await
            .unwrap();
        fs_err::create_dir_all(run_dir.join("outputs/deep")).unwrap();
        fs_err::write(run_dir.join("outputs/deep/model.pkl"), "weights").unwrap();

        let (_, here) = run_files(&store, &blobs, "files-1", true).await.unwrap();
        let names: Vec<_> = here.iter().map(|f| (f.name.as_str(), f.size)).collect();
        assert_eq!(
            names,
            [("logs/notes.txt", 8), ("outputs/deep/model.pkl", 7)]
        );
        assert!(matches!(here[0].source, RunFileSource::Blob(_)));
        let (_, elsewhere) = run_files(&store, &blobs, "files-1", false).await.unwrap();
        assert_eq!(elsewhere.len(), 1, "only what it stored: {elsewhere:?}");

        let target = dir.path().join("out/notes.txt");
        download_run_file(
            &store,
            &blobs,
            "files-1",
            "./logs/notes.txt",
            &target,
            false,
        )
        .await
        .unwrap();
        assert_eq!(fs_err::read_to_string(&target).unwrap(), "uploaded");
        let missing = download_run_file(&store, &blobs, "files-1", "logs/x", &target, true)
            .await
            .unwrap_err();
        assert!(
            matches!(&missing, RunFilesError::NoSuchFile { name, .. } if name == "logs/x"),
            "{missing}"
        );
        assert_eq!(
            missing.hint().as_deref(),
            Some("List its files: `strata runs files files-1`")
        );
    }
}
