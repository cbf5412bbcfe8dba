//! Sending a run to Slurm and following it to its end: the pack (made once per lock), the job
//! files in the run directory, the submission (through whichever [`SlurmEngine`] the target
//! uses), then the job's state, output and end recorded on the run. A job that vanishes or
//! dies without a word ends the run `Failed` with Slurm's reason.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strata_run::{Outcome, OutputSink, STD_LOG};
use strata_store::{CANCELED, COMPLETED, FAILED, PackRecord, RunJob, RunRecord, Workspace};

use crate::error::ComputeError;
use crate::pack::write_pack;
use crate::resources::Resources;
use crate::slurm::{BatchJob, JobInfo, SlurmEngine, SlurmSettings};
use crate::state::JobState;
use crate::step::{EnvSource, JobSpec};

/// Where a submission's progress goes (the CLI shows it; tests ignore it).
pub trait Progress {
    fn submitted(&self, _job_id: &str) {}
    fn state(&self, _info: &JobInfo) {}
}

/// No progress shown.
pub struct SilentProgress;

impl Progress for SilentProgress {}

/// The pack of a lock: made once (under a lock, so concurrent runs share it) and kept in the
/// workspace's blobs.
pub fn ensure_pack(
    workspace: &Workspace,
    lock_hash: &str,
    prefix: &Path,
    python: &Path,
) -> Result<(PackRecord, PathBuf), ComputeError> {
    let blobs = workspace.blobs();
    if let Some(pack) = workspace.get_pack(lock_hash)?
        && blobs.contains(&pack.digest)
    {
        let path = blobs.path(&pack.digest);
        return Ok((pack, path));
    }
    let dir = workspace.root().join("packs");
    fs_err::create_dir_all(&dir).map_err(ComputeError::io(&dir))?;
    let key: String = lock_hash
        .rsplit(':')
        .next()
        .unwrap_or(lock_hash)
        .chars()
        .take(32)
        .collect();
    let lock_path = dir.join(format!("{key}.lock"));
    let guard = fs_err::File::create(&lock_path).map_err(ComputeError::io(&lock_path))?;
    guard.file().lock().map_err(ComputeError::io(&lock_path))?;
    if let Some(pack) = workspace.get_pack(lock_hash)?
        && blobs.contains(&pack.digest)
    {
        let path = blobs.path(&pack.digest);
        return Ok((pack, path));
    }
    let staging = dir.join(format!(".tmp-{key}-{}.tar.zst", std::process::id()));
    let written = write_pack(prefix, python, lock_hash, &staging).and_then(|_| {
        let size = fs_err::metadata(&staging)
            .map_err(ComputeError::io(&staging))?
            .len();
        let digest = blobs.put_file(&staging)?;
        Ok((digest, size))
    });
    let _ = fs_err::remove_file(&staging);
    let (digest, size) = written?;
    let record = PackRecord {
        lock_hash: lock_hash.to_string(),
        digest: digest.to_string(),
        size,
        created_at: strata_store::now_millis(),
    };
    workspace.record_pack(&record)?;
    let path = blobs.path(&record.digest);
    Ok((record, path))
}

/// A run to send to a Slurm target.
pub struct Submission<'a> {
    pub run: &'a RunRecord,
    pub target: &'a str,
    pub settings: &'a SlurmSettings,
    pub resources: &'a Resources,
    pub env: EnvSource,
    /// The definition's variables and `STRATA_ENVIRONMENT`.
    pub variables: BTreeMap<String, String>,
    /// The `strata` binary as the node sees it.
    pub strata_bin: PathBuf,
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Writes the job files into the (prepared) run directory and submits; returns the job id.
pub fn submit(
    workspace: &Workspace,
    engine: &dyn SlurmEngine,
    submission: &Submission<'_>,
    progress: &dyn Progress,
) -> Result<String, ComputeError> {
    let run = submission.run;
    let dir = PathBuf::from(&run.run_dir);
    let state_dir = dir.join(".strata-run");
    fs_err::create_dir_all(&state_dir).map_err(ComputeError::io(&state_dir))?;
    let spec = JobSpec {
        run_id: run.id.clone(),
        experiment: run.experiment.clone(),
        workspace: workspace.root().to_path_buf(),
        run_dir: dir.clone(),
        script: run.script.clone(),
        arguments: run.arguments.clone(),
        variables: submission.variables.clone(),
        python_module: strata_run::python_module_dir(workspace)?,
        metrics_file: dir.join(strata_run::METRICS_FILE),
        env: submission.env.clone(),
    };
    let spec_path = state_dir.join("job.json");
    fs_err::write(
        &spec_path,
        serde_json::to_vec_pretty(&spec).unwrap_or_default(),
    )
    .map_err(ComputeError::io(&spec_path))?;
    let mut line: Vec<String> = submission
        .settings
        .launcher
        .iter()
        .map(|a| quote(a))
        .collect();
    line.push(quote(&submission.strata_bin.display().to_string()));
    line.extend(["compute".to_string(), "job-step".to_string()]);
    line.push(quote(&spec_path.display().to_string()));
    let script = format!(
        "#!/bin/bash\n# Strata run {} (target {}). The step needs no network: the environment comes from its pack.\nexec {}\n",
        run.id,
        submission.target,
        line.join(" ")
    );
    let script_path = state_dir.join("job.sh");
    fs_err::write(&script_path, &script).map_err(ComputeError::io(&script_path))?;

    let job = BatchJob {
        name: format!("strata-{}", run.id),
        script,
        script_path,
        workdir: dir.clone(),
        output: dir.join(STD_LOG),
        partition: submission.settings.partition.clone(),
        account: submission.settings.account.clone(),
        qos: submission.settings.qos.clone(),
        resources: submission.resources.clone(),
    };
    let job_id = engine.submit(&job)?;
    progress.submitted(&job_id);
    workspace.set_run_job(&RunJob {
        run_id: run.id.clone(),
        target: submission.target.to_string(),
        job_id: Some(job_id.clone()),
        resources: serde_json::to_value(submission.resources).unwrap_or_default(),
        partition: submission.settings.partition.clone(),
        node: None,
        state: "PENDING".to_string(),
        reason: None,
        updated_at: strata_store::now_millis(),
    })?;
    workspace.run_job_queued(&run.id)?;
    Ok(job_id)
}

/// How many polls in a row may find no trace of the job before the run fails.
const MISSING_POLLS: u32 = 20;
const POLL: Duration = Duration::from_millis(250);

/// Follows a submitted job to its end: output into `sink` as it comes, the job's state on the
/// run, a cancel (`scancel`, or `DELETE` over slurmrestd) on a cancel request or when
/// `interrupted`; then records the outcome with the run's outputs, logs and metrics.
pub fn watch(
    workspace: &mut Workspace,
    run: &RunRecord,
    engine: &dyn SlurmEngine,
    job_id: &str,
    sink: Arc<dyn OutputSink>,
    interrupted: &AtomicBool,
    progress: &dyn Progress,
) -> Result<Outcome, ComputeError> {
    let log = PathBuf::from(&run.run_dir).join(STD_LOG);
    let mut offset = 0u64;
    let mut canceled = false;
    let mut started = false;
    let mut missing = 0u32;
    let mut last: Option<JobInfo> = None;
    let outcome = loop {
        offset = forward(&log, offset, sink.as_ref());
        if !canceled
            && (interrupted.load(Ordering::Relaxed)
                || workspace.get_run(&run.id).is_ok_and(|r| r.cancel_requested))
        {
            canceled = true;
            // A job that ended meanwhile refuses the cancel; its state below says how it ended.
            if let Err(error) = engine.cancel(job_id) {
                tracing::debug!("job {job_id}: {}: {error}", engine.cancel_label());
                if error.ends_watch() {
                    return Err(error);
                }
            }
        }
        let info = match engine.query(job_id) {
            Ok(info) => info,
            Err(error) if error.ends_watch() => return Err(error),
            // A controller that stops answering for a while (or a client that failed once)
            // is waited for: the job may be fine, and the run must not end on a guess.
            Err(error) => {
                tracing::debug!("job {job_id}: {error}");
                std::thread::sleep(POLL);
                continue;
            }
        };
        let Some(info) = info else {
            missing += 1;
            if missing >= MISSING_POLLS {
                break Outcome {
                    status: FAILED,
                    exit_code: None,
                    error: Some(format!(
                        "Slurm no longer knows job {job_id} (not in squeue, scontrol or sacct); it ended without reporting"
                    )),
                };
            }
            std::thread::sleep(POLL);
            continue;
        };
        missing = 0;
        if last.as_ref() != Some(&info) {
            progress.state(&info);
            workspace.set_run_job(&RunJob {
                run_id: run.id.clone(),
                target: String::new(),
                job_id: Some(job_id.to_string()),
                resources: serde_json::Value::Null,
                partition: info.partition.clone(),
                node: info.node.clone(),
                state: info.state.clone(),
                reason: info.reason.clone(),
                updated_at: strata_store::now_millis(),
            })?;
            last = Some(info.clone());
        }
        let state = info.job_state();
        if !started && (matches!(state, JobState::Running) || state.is_finished()) {
            started = true;
            workspace.run_started_interactive(&run.id)?;
        }
        if state.is_finished() {
            break outcome_of(&state, &info, canceled, engine.cancel_label());
        }
        std::thread::sleep(POLL);
    };
    forward(&log, offset, sink.as_ref());
    let run = workspace.get_run(&run.id)?;
    strata_run::finish(workspace, &run, &outcome)?;
    Ok(outcome)
}

fn outcome_of(state: &JobState, info: &JobInfo, canceled: bool, how: &str) -> Outcome {
    let code = info
        .exit_code
        .and_then(|(code, signal)| (signal == 0).then_some(code));
    match state {
        JobState::Completed => Outcome {
            status: COMPLETED,
            exit_code: Some(0),
            error: None,
        },
        JobState::Canceled if canceled => Outcome {
            status: CANCELED,
            exit_code: code,
            error: Some(format!("Canceled ({how})")),
        },
        // Not asked for through Strata: the job was killed under the run (`scancel -s KILL`,
        // an administrator, a preemption), so the run did not do its work.
        JobState::Canceled => Outcome {
            status: FAILED,
            exit_code: code,
            error: Some(format!(
                "Slurm: {}: the job was canceled outside Strata{}",
                info.state,
                match info.exit_code {
                    Some((_, signal)) if signal != 0 =>
                        format!(", the script was killed by signal {signal}"),
                    _ => String::new(),
                }
            )),
        },
        JobState::Failed { reason } => Outcome {
            status: FAILED,
            exit_code: code,
            error: Some(reason.clone()),
        },
        JobState::Queued | JobState::Running => Outcome {
            status: FAILED,
            exit_code: None,
            error: Some("The job had not ended".to_string()),
        },
    }
}

/// Copies what the log gained since `offset` into the sink.
fn forward(path: &Path, offset: u64, sink: &dyn OutputSink) -> u64 {
    let Ok(mut file) = fs_err::File::open(path) else {
        return offset;
    };
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    if !bytes.is_empty() {
        sink.stdout(&bytes);
    }
    offset + bytes.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_quoted_for_bash() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
