//! The user verbs as library functions over a workspace and a progress reporter, returning
//! typed results: what the CLI renders, and what the server and the Python transport call.

pub use cache::{GcError, collect_garbage, referenced_lock_hashes};
pub use download::{CONTEXT_DIR, DefinitionFormat, DownloadError, download_environment};
pub use error::{BuildFailed, PrepareError, ShareFailed};
pub use interactive_runs::{
    INTERACTIVE_TARGET, InteractiveRunError, NewInteractiveRun, RunAction, RunEnding,
    end_interactive_run, log_to_run, start_interactive_run, upload_to_run,
};
pub use inventory::{
    AdvisorySource, AuditOutcome, AuditScope, Sbom, audit, sbom, sbom_of_lock, search_packages,
};
pub use models::{ModelError, ModelSource, RegisteredModel, register_model};
pub use prepare::{
    Built, WORKSPACES_FILE, WorkspaceWheels, activation_env, ensure_built, ensure_locked,
    record_failure,
};
pub use relock::{LockOutcome, relock};
pub use run_files::{
    RunDetails, RunFile, RunFileSource, RunFilesError, download_run_file, run_details, run_files,
};
pub use services::{PublishedService, publish_service};
pub use shared_build::{
    LockSource, SharedBuilt, SharedLock, SharedWorkspace, build_shared, relock_shared,
};

mod blocking;
mod cache;
mod download;
mod error;
mod files;
pub mod images;
mod interactive_runs;
mod inventory;
mod models;
mod prepare;
pub mod quickstart;
mod relock;
mod run_files;
pub mod runs;
mod services;
pub mod serving;
mod shared_build;
