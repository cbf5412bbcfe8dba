//! Runs: the environment a run uses, its snapshot and record, its supervision on this
//! machine, in a container or as a Slurm job, and, on a server workspace, its working copy and
//! the reporting of what it does to the server while it runs.

pub use create::{create_run, run_id};
pub use environment::{RunEnvironment, resolve_environment};
pub use error::RunsError;
pub use follow::{Cancellation, cancel_run, request_cancel, wait_for_run, wait_for_run_in};
pub use log::{follow_run_log, follow_shared_run_log};
pub use shared::{
    ReporterThread, open_working_copy, publish_run, pull_run_environment, working_copy,
};
pub use submit::{Reporting, Submission, Submitted, submit, supervise_reporting};
pub use supervise::{Supervision, supervise};
pub use targets::{
    AttachedTarget, attach_slurm_target, check_slurm_target, check_target, list_targets,
    pull_target, reap_orphans, record_resources,
};

mod create;
mod environment;
mod error;
mod follow;
mod log;
mod shared;
mod slurm;
mod submit;
mod supervise;
mod targets;

type Result<T, E = RunsError> = std::result::Result<T, E>;
