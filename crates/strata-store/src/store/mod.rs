//! The workspace behind interfaces: [`WorkspaceStore`] for records and [`BlobStorage`] for
//! content, each with an embedded (SQLite, local directory), a PostgreSQL or S3, and a
//! remote (HTTP) implementation; and [`ServerStore`] for what only a team server keeps
//! (workspaces, members, tokens, the audit log). Commands, the server and the Python
//! transport only ever talk to these.

use std::ops::Range;
use std::path::Path;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use strata_spec::{Environment, EnvironmentVersion, Lock};

use crate::{
    BuildRecord, EnvironmentLabel, EnvironmentRecord, EnvironmentSummary, LatestLock, LockRecord,
    Metric, ModelRecord, PackageUse, RegisterOptions, Registration, RunJob, RunRecord,
    ServiceRecord, StoreError, TargetRecord,
};

pub use access::{Action, Actor, Role, allows};
pub use address::{ServiceAddress, service_address};
pub use blob_stream::{BlobStream, check_range, verified};
pub use browse::BrowseStore;
pub use cursor::{Cursor, CursorPage, MAX_PAGE_SIZE};
pub use etag::{state_tag, tag_matches};
pub use local::SqliteStore;
pub use local_blobs::LocalBlobs;
pub use push::{PushProgress, PushSummary, push_workspace};
pub use server::{
    AuditEvent, AuditQuery, Authorized, Member, NewToken, Principal, Refusal, RefusalReason,
    ServerBackends, ServerStore, TokenRecord, WorkspaceInfo, authorize_in_steps,
};
pub use sync::{
    download_tree, pull_build_context, pull_environment, push_lock, restore_stored_tree,
    upload_blobs, upload_build_context, upload_tree,
};
pub use tokens::{TOKEN_PREFIX, generate_token, is_well_formed, token_hash};
pub use wire::{ExactTimes, list_to_wire, page_to_wire, run_from_wire, to_wire, to_wire_bytes};

mod access;
mod address;
mod blob_stream;
mod browse;
mod cursor;
mod etag;
mod local;
mod local_blobs;
mod local_browse;
mod push;
mod run_logs;
mod server;
mod sync;
mod tokens;
mod wire;

/// Which environments a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentQuery {
    /// Every version instead of the latest of each name.
    #[serde(default)]
    pub all_versions: bool,
    /// Also the anonymous environments of runs and deployments.
    #[serde(default)]
    pub include_anonymous: bool,
    /// Only names starting with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Only the versions of this name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Which runs a list shows, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunQuery {
    #[serde(default)]
    pub experiment: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A step in a run's life, as whoever executes it reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum RunUpdate {
    /// Locking and building its environment.
    Preparing,
    /// The environment is ready, at this lock (and, for a run in a container, in this image,
    /// `REFERENCE@DIGEST`).
    Prepared {
        #[serde(rename = "lockHash")]
        lock_hash: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<String>,
    },
    /// The script started.
    Running,
    /// It ended: `Completed`, `Failed` or `Canceled`, with the manifests of its `outputs/`
    /// and `logs/` (stored before this update).
    Finished {
        status: String,
        #[serde(rename = "exitCode")]
        exit_code: Option<i64>,
        error: Option<String>,
        outputs: Option<String>,
        logs: Option<String>,
    },
    /// The files it has stored so far (an interactive run's uploads), as the manifests of
    /// its `outputs/` and `logs/` (stored before this update; `None` keeps the one recorded),
    /// so they are seen while it runs. A run that has ended keeps the files it ended with.
    Files {
        outputs: Option<String>,
        logs: Option<String>,
    },
    /// Someone asked it to stop; the executor sees the flag and cancels.
    CancelRequested,
}

/// Refuses a [`RunUpdate::Finished`] status other than the three a run ends with.
pub fn check_finished_status(status: &str) -> Result<(), StoreError> {
    if matches!(status, crate::COMPLETED | crate::FAILED | crate::CANCELED) {
        return Ok(());
    }
    Err(StoreError::InvalidReference {
        reference: status.to_string(),
        reason: "a run finishes `Completed`, `Failed` or `Canceled`".to_string(),
    })
}

/// Part of a run's combined log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogChunk {
    /// Byte offset of `text` in the log.
    pub offset: u64,
    pub text: String,
    /// Where the next read starts.
    pub next_offset: u64,
}

/// The records of one workspace.
///
/// Every implementation keeps the same rules, checked by one conformance suite: versions are
/// immutable and registration is idempotent, concurrent registrations get consecutive
/// versions, a version's first lock wins, and a record is refused when a blob it points at
/// is not stored.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Where the workspace is (a path or a URL), for messages.
    fn location(&self) -> String;

    /// Registers a definition (see [`crate::Workspace::register_environment`]).
    async fn register_environment(
        &self,
        environment: Environment,
        options: RegisterOptions,
    ) -> Result<Registration, StoreError>;

    /// A version, or the latest one.
    async fn get_environment(
        &self,
        name: &str,
        version: Option<&EnvironmentVersion>,
    ) -> Result<EnvironmentRecord, StoreError>;

    /// Environments sorted by name, then by registration.
    async fn list_environments(
        &self,
        query: &EnvironmentQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentSummary>, StoreError>;

    async fn get_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<LockRecord>, StoreError>;

    /// Stores the lock unless the version has one; returns the one it has (first writer wins).
    async fn set_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        lock: &Lock,
    ) -> Result<LockRecord, StoreError>;

    /// The latest version of every named environment, by name, with its lock if it has one
    /// (what `env audit --all` reads).
    async fn latest_locks(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<LatestLock>, StoreError>;

    /// The environment versions (anonymous ones included) whose lock has `package` (any
    /// spelling: it is normalised as [`crate::normalize_package`] does) of `ecosystem` ([`crate::PYPI`] or
    /// [`crate::CONDA`]), by environment name then version as text, with the runs, models
    /// and services that used each (what `env search` reads).
    async fn package_uses(
        &self,
        ecosystem: &str,
        package: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<PackageUse>, StoreError>;

    /// Records a build whose log blob (if any) is already stored.
    async fn record_build(&self, record: &BuildRecord) -> Result<(), StoreError>;

    /// Puts `labels` on a version (it must exist), moving each from any other version of the
    /// environment: a label names one version at a time (Azure ML's `Environment.label`).
    async fn label_environment(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        labels: &[String],
    ) -> Result<(), StoreError>;

    /// The version `label` names (not found when it names none).
    async fn labelled_version(
        &self,
        name: &str,
        label: &str,
    ) -> Result<EnvironmentVersion, StoreError>;

    /// The labels of an environment's versions, by label.
    async fn environment_labels(
        &self,
        name: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentLabel>, StoreError>;

    /// The builds of a version, newest first.
    async fn list_builds(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<BuildRecord>, StoreError>;

    /// Creates a run whose snapshot blob (if any) is already stored; returns it as stored
    /// (`Queued`, with only the fields a new run has).
    async fn create_run(&self, run: &RunRecord) -> Result<RunRecord, StoreError>;

    /// Moves a run on; returns it as it is now.
    async fn update_run(&self, id: &str, update: &RunUpdate) -> Result<RunRecord, StoreError>;

    /// [`Self::update_run`] only while the run is in the state `if_match` names (an
    /// `If-Match` value over [`state_tag`]s): compared and written in one transaction, so of
    /// two writers holding the same tag exactly one wins and the other gets
    /// [`StoreError::PreconditionFailed`], whichever process each is in.
    async fn update_run_if_match(
        &self,
        id: &str,
        update: &RunUpdate,
        if_match: &str,
    ) -> Result<RunRecord, StoreError>;

    async fn get_run(&self, id: &str) -> Result<RunRecord, StoreError>;

    /// Runs, newest first.
    async fn list_runs(
        &self,
        query: &RunQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<RunRecord>, StoreError>;

    /// Adds metrics in one batch.
    async fn add_metrics(&self, id: &str, metrics: &[Metric]) -> Result<(), StoreError>;

    /// Every metric of a run, in the order logged.
    async fn run_metrics(&self, id: &str) -> Result<Vec<Metric>, StoreError>;

    async fn set_run_tag(&self, id: &str, key: &str, value: Option<&str>)
    -> Result<(), StoreError>;

    async fn run_tags(&self, id: &str) -> Result<Vec<(String, Option<String>)>, StoreError>;

    /// Appends to the run's combined log at `offset`, which must be the log's length (a
    /// retried append of text already there is accepted); returns the new length.
    async fn append_run_log(&self, id: &str, offset: u64, text: &str) -> Result<u64, StoreError>;

    /// Reads the run's combined log from `offset`, at most `max` bytes.
    async fn read_run_log(&self, id: &str, offset: u64, max: u64) -> Result<LogChunk, StoreError>;

    /// Registers the next version of a model whose manifest blob is already stored.
    async fn register_model(&self, model: ModelRecord) -> Result<ModelRecord, StoreError>;

    async fn get_model(&self, name: &str, version: Option<u64>) -> Result<ModelRecord, StoreError>;

    /// Models sorted by name, then version.
    async fn list_models(
        &self,
        all_versions: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ModelRecord>, StoreError>;

    /// Records a deployment, or its new state.
    async fn put_service(&self, service: &ServiceRecord) -> Result<(), StoreError>;

    /// [`Self::put_service`] over an existing service only while it is in the state
    /// `if_match` names, compared and written in one transaction as in
    /// [`Self::update_run_if_match`].
    async fn put_service_if_match(
        &self,
        service: &ServiceRecord,
        if_match: &str,
    ) -> Result<(), StoreError>;

    async fn get_service(&self, name: &str) -> Result<ServiceRecord, StoreError>;

    /// Services sorted by name.
    async fn list_services(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ServiceRecord>, StoreError>;

    /// Records a compute target of `kind` with the kind's settings (checked by the caller
    /// against its scheduler); a name already attached, or built in, is refused.
    async fn attach_target(
        &self,
        name: &str,
        kind: &str,
        settings: &serde_json::Value,
    ) -> Result<TargetRecord, StoreError>;

    /// A target by name, built in ([`crate::BUILTIN_TARGETS`]) or attached.
    async fn get_target(&self, name: &str) -> Result<TargetRecord, StoreError>;

    /// The attached targets, by name; the built-in ones are in every workspace and not
    /// listed here.
    async fn list_targets(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<TargetRecord>, StoreError>;

    /// Removes an attached target; runs that used it keep their records.
    async fn detach_target(&self, name: &str) -> Result<(), StoreError>;

    /// Records the scheduler's job of a run (which must exist), merged into what is
    /// recorded: a job id, partition or node left `None` keeps the one recorded.
    async fn set_run_job(&self, job: &RunJob) -> Result<(), StoreError>;

    /// The job of a run sent to a scheduler; `None` for a run that ran without one.
    async fn get_run_job(&self, run_id: &str) -> Result<Option<RunJob>, StoreError>;
}

/// Content-addressed blobs: named by the SHA-256 of their bytes, verified on the way in and
/// out, never half-written.
#[async_trait]
pub trait BlobStorage: Send + Sync {
    /// The digests of `digests` this store does not hold.
    async fn missing(&self, digests: &[String]) -> Result<Vec<String>, StoreError>;

    /// Stores the file's bytes as `digest`, refusing them if they hash to anything else.
    async fn put_file(&self, digest: &str, path: &Path) -> Result<(), StoreError>;

    /// Writes the blob to `destination` (replaced atomically), refusing corrupt content.
    async fn get_to_file(&self, digest: &str, destination: &Path) -> Result<(), StoreError>;

    /// The size of a stored blob.
    async fn size(&self, digest: &str) -> Result<Option<u64>, StoreError>;

    /// The whole blob as a stream, never read into memory at once. It is verified as it
    /// goes: the last chunk is held back until the digest matches, and a corrupt blob ends
    /// the stream with [`StoreError::CorruptBlob`] instead, so it never arrives complete.
    async fn open(&self, digest: &str) -> Result<BlobStream, StoreError>;

    /// Bytes `range` of the blob as a stream (a range reaching past the end stops at the
    /// end; [`StoreError::UnsatisfiableRange`] for an empty one or one that starts at or past
    /// the end). Not verified: only the whole blob can be hashed, and a blob is checked
    /// against its name when stored (see [`verified`]); whoever puts the ranges together
    /// checks the whole.
    async fn open_range(&self, digest: &str, range: Range<u64>) -> Result<BlobStream, StoreError>;
}

/// Reads every page of a list: clients follow cursors, nobody sees only page one.
pub async fn collect_all<T, F, Fut>(mut page: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<CursorPage<T>, StoreError>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let next = page(cursor.take()).await?;
        items.extend(next.items);
        match next.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(items),
        }
    }
}

/// Whether `digest` is a SHA-256 in lowercase hex.
pub fn is_digest(digest: &str) -> bool {
    digest.len() == 64
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Refuses a name that is not a blob digest ([`is_digest`]).
pub fn check_digest(digest: &str) -> Result<(), StoreError> {
    if is_digest(digest) {
        Ok(())
    } else {
        Err(StoreError::InvalidReference {
            reference: digest.chars().take(80).collect(),
            reason: "a blob is named by the SHA-256 of its bytes, 64 lowercase hex digits"
                .to_string(),
        })
    }
}
