//! Compute targets beyond this machine. Slurm is the first scheduler: jobs are submitted and
//! followed through Slurm's own commands (`sbatch`, `scontrol`, `sacct`, `scancel`) or its
//! REST API (slurmrestd), and the environment reaches the node as a pack (one blob per lock
//! hash) that the job materializes into the node's cache with no network.

pub use error::ComputeError;
pub use pack::{Materialized, PACK_MANIFEST, PackManifest, materialize_pack, write_pack};
pub use resources::{Amounts, Resources};
pub use slurm::{
    BatchJob, DEFAULT_API_VERSION, JobInfo, RestSettings, SUPPORTED_API_VERSIONS, SlurmCommands,
    SlurmEngine, SlurmRest, SlurmSettings, connect, parse_exit_code,
};
pub use state::{JobState, map_state};
pub use step::{EnvSource, JobSpec, MATERIALIZE_RECORD, job_step, node_cache_dir};
pub use submit::{Progress, SilentProgress, Submission, ensure_pack, submit, watch};

mod error;
mod pack;
mod resources;
mod slurm;
mod state;
mod step;
mod submit;
