//! Reporting a run that executes here to a workspace elsewhere (a team server): its status,
//! its log as it grows, its metrics and tags in batches, a cancel asked for over there, and
//! at the end its outputs and logs — blobs first, the record pointing at them second.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use strata_store::store::{BlobStorage, RunUpdate, WorkspaceStore, upload_tree};
use strata_store::{Metric, PREPARING, RUNNING, StoreError, Workspace};

use crate::execute::{METRICS_FILE, STD_LOG};
use crate::metrics::{Record, read_records};

/// The most log text sent in one request.
const LOG_CHUNK: usize = 1 << 20;

/// What has been reported of one run so far.
pub struct RunReporter {
    records: Arc<dyn WorkspaceStore>,
    blobs: Arc<dyn BlobStorage>,
    id: String,
    status: String,
    /// The lock and image reported as prepared.
    prepared: Option<(String, Option<String>)>,
    log_offset: u64,
    metrics: usize,
    tags: BTreeMap<String, Option<String>>,
    /// The scheduler's job as last reported, for a run on a compute target.
    job: Option<strata_store::RunJob>,
    done: bool,
}

impl RunReporter {
    pub fn new(records: Arc<dyn WorkspaceStore>, blobs: Arc<dyn BlobStorage>, id: &str) -> Self {
        Self {
            records,
            blobs,
            id: id.to_string(),
            status: strata_store::QUEUED.to_string(),
            prepared: None,
            log_offset: 0,
            metrics: 0,
            tags: BTreeMap::new(),
            job: None,
            done: false,
        }
    }

    /// Whether the final status has been reported.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Reports what changed since the last call; returns whether the run has ended and
    /// everything about it is reported.
    pub async fn sync(&mut self, local: &Workspace) -> Result<bool, StoreError> {
        if self.done {
            return Ok(true);
        }
        let run = local.get_run(&self.id)?;
        // A container run's image is known after its lock: each is reported when it is.
        if let Some(lock_hash) = &run.lock_hash {
            let prepared = (lock_hash.clone(), run.image.clone());
            if self.prepared.as_ref() != Some(&prepared) {
                self.records
                    .update_run(
                        &self.id,
                        &RunUpdate::Prepared {
                            lock_hash: prepared.0.clone(),
                            image: prepared.1.clone(),
                        },
                    )
                    .await?;
                self.prepared = Some(prepared);
            }
        }
        if run.status != self.status && !run.is_finished() {
            let update = match run.status.as_str() {
                PREPARING => Some(RunUpdate::Preparing),
                RUNNING => Some(RunUpdate::Running),
                _ => None,
            };
            if let Some(update) = update {
                self.records.update_run(&self.id, &update).await?;
            }
            self.status = run.status.clone();
        }
        self.send_job(local).await?;
        let dir = PathBuf::from(&run.run_dir);
        self.send_log(&dir).await?;
        self.send_metrics(&dir).await?;
        if !run.is_finished() {
            let remote = self.records.get_run(&self.id).await?;
            if remote.cancel_requested && !run.cancel_requested {
                local.request_cancel(&self.id)?;
            }
            return Ok(false);
        }
        if run.started_at.is_some() && self.status != RUNNING {
            // A run that went from preparing to its end between two passes still started.
            self.records
                .update_run(&self.id, &RunUpdate::Running)
                .await?;
        }
        for digest in [&run.outputs, &run.logs].into_iter().flatten() {
            upload_tree(local, self.blobs.as_ref(), digest).await?;
        }
        self.records
            .update_run(
                &self.id,
                &RunUpdate::Finished {
                    status: run.status.clone(),
                    exit_code: run.exit_code,
                    error: run.error.clone(),
                    outputs: run.outputs.clone(),
                    logs: run.logs.clone(),
                },
            )
            .await?;
        self.done = true;
        Ok(true)
    }

    /// The run's scheduler job, when it changed (submitted, a new state, a node).
    async fn send_job(&mut self, local: &Workspace) -> Result<(), StoreError> {
        let job = local.get_run_job(&self.id)?;
        if job.is_some() && job != self.job {
            if let Some(job) = &job {
                self.records.set_run_job(job).await?;
            }
            self.job = job;
        }
        Ok(())
    }

    async fn send_log(&mut self, dir: &std::path::Path) -> Result<(), StoreError> {
        let path = dir.join(STD_LOG);
        let Ok(bytes) = fs_err::read(&path) else {
            return Ok(());
        };
        while (self.log_offset as usize) < bytes.len() {
            let start = self.log_offset as usize;
            let text = utf8_prefix(&bytes[start..], LOG_CHUNK);
            if text.is_empty() {
                // A character cut by a write in progress; the rest comes next pass.
                break;
            }
            self.log_offset = self
                .records
                .append_run_log(&self.id, self.log_offset, text)
                .await?;
        }
        Ok(())
    }

    async fn send_metrics(&mut self, dir: &std::path::Path) -> Result<(), StoreError> {
        let mut metrics: Vec<Metric> = Vec::new();
        let mut tags = BTreeMap::new();
        for record in read_records(&dir.join(METRICS_FILE)) {
            match record {
                Record::Metric(metric) => metrics.push(metric),
                Record::Tag { key, value } => {
                    tags.insert(key, value);
                }
            }
        }
        if metrics.len() > self.metrics {
            self.records
                .add_metrics(&self.id, &metrics[self.metrics..])
                .await?;
            self.metrics = metrics.len();
        }
        for (key, value) in tags {
            if self.tags.get(&key) != Some(&value) {
                self.records
                    .set_run_tag(&self.id, &key, value.as_deref())
                    .await?;
                self.tags.insert(key, value);
            }
        }
        Ok(())
    }
}

/// The longest prefix of `bytes` of at most `max` bytes that is whole UTF-8 (invalid bytes
/// inside are kept as replacement characters only when they are not at the end).
fn utf8_prefix(bytes: &[u8], max: usize) -> &str {
    let bytes = &bytes[..bytes.len().min(max)];
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::utf8_prefix;

    #[test]
    fn log_chunks_never_split_a_character() {
        let text = "aé€";
        assert_eq!(utf8_prefix(text.as_bytes(), 2), "a");
        assert_eq!(utf8_prefix(text.as_bytes(), 3), "aé");
        assert_eq!(utf8_prefix(text.as_bytes(), 100), text);
    }
}
