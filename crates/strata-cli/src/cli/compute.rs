//! `strata compute ...`: compute targets, and the resources `strata run --target` asks for.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum ComputeCommand {
    /// Attach a Slurm cluster as a target (its scheduler must answer here, on a login node).
    #[command(
        after_help = "Examples:\n  strata compute attach hpc --slurm\n  strata compute attach gpu --slurm --partition gpu --account ml --qos normal\n  strata compute attach hpc --slurm --shared-cache    # nodes see STRATA_CACHE (NFS): no pack\n  strata compute attach hpc --slurm --rest-url http://login01:6820   # through slurmrestd\n\nThrough slurmrestd (`--rest-url`), the token comes from SLURM_JWT (e.g. `export $(scontrol token)`),\nelse from running `scontrol token`; it is never stored in the workspace."
    )]
    // Boxed: the options make it much larger than the other commands.
    Attach(Box<AttachArgs>),
    /// List the compute targets (`local` and `container` are built in).
    #[command(after_help = "Example:\n  strata compute list --json")]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a target and its settings.
    #[command(after_help = "Example:\n  strata compute show hpc")]
    Show {
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an attached target; runs that used it keep their records.
    #[command(after_help = "Example:\n  strata compute detach hpc")]
    Detach { name: String },
    /// The job step on a node (run by the job script Strata submits).
    #[command(name = "job-step", hide = true)]
    JobStep { spec: PathBuf },
}

#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// The target's name, used by `strata run --target NAME`.
    pub(crate) name: String,
    /// The target is a Slurm cluster (the only kind so far).
    #[arg(long, required = true)]
    pub(crate) slurm: bool,
    /// The partition jobs go to (default: the cluster's default partition).
    #[arg(long)]
    pub(crate) partition: Option<String>,
    /// The account jobs are charged to (`sbatch --account`).
    #[arg(long)]
    pub(crate) account: Option<String>,
    /// The quality of service (`sbatch --qos`).
    #[arg(long)]
    pub(crate) qos: Option<String>,
    /// A command the job step runs under, split on spaces (e.g. `srun`, `unshare --net`).
    #[arg(long, value_name = "COMMAND")]
    pub(crate) launcher: Option<String>,
    /// The cache on the nodes that packs are materialized into (default on the node:
    /// `$STRATA_NODE_CACHE`, else `$TMPDIR/strata-node-cache`).
    #[arg(long, value_name = "DIR")]
    pub(crate) node_cache: Option<PathBuf>,
    /// The nodes see this machine's build cache (`STRATA_CACHE` on a shared filesystem): jobs
    /// use the built environment directly instead of a pack.
    #[arg(long)]
    pub(crate) shared_cache: bool,
    /// The `strata` binary as the nodes see it (default: this binary's path).
    #[arg(long, value_name = "PATH")]
    pub(crate) strata_bin: Option<PathBuf>,
    /// Submit, follow and cancel jobs through slurmrestd at this URL (e.g.
    /// `http://login01:6820`) instead of Slurm's commands. Its token comes from `SLURM_JWT`,
    /// else from `scontrol token`, and is never stored.
    #[arg(long, value_name = "URL")]
    pub(crate) rest_url: Option<String>,
    /// The slurmrestd API version in its paths: `v0.0.38` (default) or `v0.0.37` (Slurm 22.05
    /// and 21.08).
    #[arg(long, value_name = "VERSION", requires = "rest_url")]
    pub(crate) rest_api_version: Option<String>,
    /// The user slurmrestd acts for (`X-SLURM-USER-NAME`; default: the token's user, else
    /// yours).
    #[arg(long, value_name = "NAME", requires = "rest_url")]
    pub(crate) rest_user: Option<String>,
    /// Print the target as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What a run asks a scheduler for (ignored by `local` and `container`).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ResourceArgs {
    /// CPUs for the script (`--cpus-per-task`).
    #[arg(long, value_name = "N")]
    pub(crate) cpus: Option<u32>,
    /// Memory for the job, e.g. `8G` (`--mem`).
    #[arg(long, value_name = "SIZE")]
    pub(crate) memory: Option<String>,
    /// GPUs (`--gres=gpu:N`).
    #[arg(long, value_name = "N")]
    pub(crate) gpus: Option<u32>,
    /// The time limit, e.g. `2h`, `30m`, `1h30m` (`--time`).
    #[arg(long, value_name = "DURATION")]
    pub(crate) time: Option<String>,
}
