//! Runs: snapshots of source directories, execution of scripts in built environments under
//! supervision, metrics, and recovery of runs whose supervisor died.

pub use error::RunError;
pub use execute::{
    ContainerLaunch, Execution, METRICS_FILE, NoSink, Outcome, OutputSink, PYTHON_MODULE, STD_LOG,
    execute, finish, prepare_run_dir, python_module_dir,
};
pub use metrics::{Record, read_records};
pub use orphans::{reap_orphans, reap_orphans_with};
pub use process::{is_alive, signal_group, start_time};
pub use report::RunReporter;
pub use snapshot::{SnapshotLimits, SnapshotPlan, plan_snapshot};

mod error;
mod execute;
mod metrics;
mod orphans;
mod process;
mod report;
mod snapshot;
