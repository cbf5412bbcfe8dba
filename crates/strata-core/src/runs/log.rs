//! A run's log (`strata runs logs [--follow]`): what the script printed so far, and while it
//! runs, the rest as it comes.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use strata_store::store::WorkspaceStore;
use strata_store::{StoreError, Workspace};

use super::{Result, RunsError};

/// Writes the log of run `id` of an embedded workspace to `out`: the file its supervisor
/// writes while it runs, else the log it stored; with `follow`, until the run has ended. A run
/// with no output is refused: ended without any, or (without `follow`) none yet.
pub fn follow_run_log(
    workspace: &Workspace,
    id: &str,
    follow: bool,
    out: &mut dyn FnMut(&[u8]),
) -> Result<()> {
    let run = workspace.get_run(id)?;
    let path = PathBuf::from(&run.run_dir).join(strata_run::STD_LOG);
    if !path.is_file() {
        // The run directory may be gone; the stored logs are not.
        if let Some(log) = workspace.stored_log(run.logs.as_deref())? {
            out(&log);
            return Ok(());
        }
        if run.is_finished() {
            return Err(RunsError::NoOutput {
                id: id.to_string(),
                status: run.status,
                error: run.error,
            });
        }
        if !follow {
            return Err(RunsError::NoOutputYet {
                id: id.to_string(),
                status: run.status,
            });
        }
    }
    let mut offset = 0;
    loop {
        offset = write_from(&path, offset, out);
        if !follow {
            return Ok(());
        }
        if workspace.get_run(id)?.is_finished() {
            write_from(&path, offset, out);
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes the log of run `id` of a server workspace to `out`, as the machine executing it
/// streams it to the server; with `follow`, until the run has ended.
pub async fn follow_shared_run_log(
    records: &dyn WorkspaceStore,
    id: &str,
    follow: bool,
    out: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<(), StoreError> {
    let mut offset = 0;
    loop {
        let chunk = records.read_run_log(id, offset, 1 << 20).await?;
        out(chunk.text.as_bytes());
        let moved = chunk.next_offset > offset;
        offset = chunk.next_offset;
        if moved {
            continue;
        }
        if !follow {
            return Ok(());
        }
        if records.get_run(id).await?.is_finished() {
            // What arrived between the last read and the final status.
            let rest = records.read_run_log(id, offset, u64::MAX).await?;
            out(rest.text.as_bytes());
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Writes what `path` holds from `offset` on; returns the offset after it.
fn write_from(path: &Path, offset: u64, out: &mut dyn FnMut(&[u8])) -> u64 {
    let Ok(mut file) = fs_err::File::open(path) else {
        return offset;
    };
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    out(&bytes);
    offset + bytes.len() as u64
}

#[cfg(test)]
mod tests {
    use strata_store::RunRecord;

    use super::*;

    #[test]
    fn a_runs_log_is_its_file_and_a_run_without_output_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::init(&dir.path().join("ws")).unwrap();
        let run_dir = dir.path().join("run");
        let run = RunRecord::queued("log-1", "e", run_dir.display().to_string(), "local");
        workspace.create_run(&run).unwrap();
        let read = |workspace: &Workspace, follow: bool| {
            let mut text = Vec::new();
            follow_run_log(workspace, "log-1", follow, &mut |bytes: &[u8]| {
                text.extend_from_slice(bytes)
            })
            .map(|()| String::from_utf8(text).unwrap())
        };
        let waiting = read(&workspace, false).unwrap_err();
        assert!(
            matches!(waiting, RunsError::NoOutputYet { .. }),
            "{waiting}"
        );
        assert_eq!(
            waiting.hint().as_deref(),
            Some("Follow it with `strata runs logs log-1 --follow`")
        );

        fs_err::create_dir_all(run_dir.join("logs")).unwrap();
        fs_err::write(run_dir.join(strata_run::STD_LOG), "epoch 1\n").unwrap();
        assert_eq!(read(&workspace, false).unwrap(), "epoch 1\n");
        workspace
            .run_finished("log-1", strata_store::COMPLETED, Some(0), None, None, None)
            .unwrap();
        assert_eq!(
            read(&workspace, true).unwrap(),
            "epoch 1\n",
            "an ended run is not waited for"
        );

        fs_err::remove_dir_all(&run_dir).unwrap();
        let gone = read(&workspace, true).unwrap_err();
        assert_eq!(
            gone.to_string(),
            "Run `log-1` ended (Completed) without output"
        );
    }
}
