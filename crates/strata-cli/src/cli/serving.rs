//! The arguments of `strata deploy`, `strata serve` and `strata service`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// The service name.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) options: ServingOptions,
    #[command(flatten)]
    pub(crate) container: ContainerOptions,
    /// Print the deployed service as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where a deployed service runs.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct ContainerOptions {
    /// Run the service in a podman container of an image: the environment's image plus a
    /// layer with the server, the scoring code and the models.
    #[arg(long)]
    pub(crate) container: bool,
    /// With `--container`: the base of the environment's image (see `strata env image --base`).
    #[arg(long, value_name = "IMAGE", requires = "container")]
    pub(crate) base: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Serve a deployed service (used by `deploy`).
    #[arg(long, hide = true)]
    pub(crate) service: Option<String>,
    #[command(flatten)]
    pub(crate) options: ServingOptions,
}

/// What a service serves and how. The settings azmlinfsrv reads from the environment are read
/// here too (`AZUREML_ENTRY_SCRIPT`, `AZUREML_MODEL_DIR`, `WORKER_COUNT`, `WORKER_TIMEOUT`,
/// `AML_CORS_ORIGINS`, `SERVER_VERSION_LOG_RESPONSE_ENABLED`, `SEPERATE_HEALTH_ENDPOINT` with
/// `HEALTH_PORT`); a flag wins over its variable.
#[derive(Debug, Args)]
pub(crate) struct ServingOptions {
    /// A registered model (`NAME` or `NAME:VERSION`); repeatable.
    #[arg(long = "model", value_name = "NAME[:VERSION]")]
    pub(crate) models: Vec<String>,
    /// The scoring script with `init()` and `run()`: any `.py` file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "score.py",
        env = "AZUREML_ENTRY_SCRIPT"
    )]
    pub(crate) entry_script: PathBuf,
    /// A directory copied next to the entry script and put on `sys.path`.
    #[arg(long, value_name = "DIR")]
    pub(crate) source_dir: Option<PathBuf>,
    /// A model directory used in place and exported as `AZUREML_MODEL_DIR`, instead of the
    /// registered models' directory.
    #[arg(long, value_name = "DIR", env = "AZUREML_MODEL_DIR")]
    pub(crate) model_dir: Option<PathBuf>,
    /// The environment (`NAME` or `NAME:VERSION`); default: the one the first model was trained in.
    #[arg(long, value_name = "NAME[:VERSION]")]
    pub(crate) env: Option<String>,
    /// The port to listen on.
    #[arg(long, default_value_t = 8890)]
    pub(crate) port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: std::net::IpAddr,
    /// On a server workspace, the host teammates reach the service at, recorded instead of
    /// the one worked out (the machine's hostname for `--host 0.0.0.0` or `::`).
    #[arg(long, value_name = "HOST", env = "STRATA_ADVERTISE_HOST")]
    pub(crate) advertise_host: Option<String>,
    /// Python worker processes (default: `--cpu-cores` rounded up, else 1).
    #[arg(long, env = "WORKER_COUNT")]
    pub(crate) workers: Option<usize>,
    /// CPU cores for the service; sets the default worker count.
    #[arg(long, value_name = "CORES")]
    pub(crate) cpu_cores: Option<f64>,
    /// Memory per worker; a worker above it is restarted and its request gets 503.
    #[arg(long, value_name = "GB")]
    pub(crate) memory_gb: Option<f64>,
    /// Per-request timeout (default 60000); a request over it gets 504 and its worker is replaced.
    #[arg(long, value_name = "MS")]
    pub(crate) timeout_ms: Option<u64>,
    /// The request timeout in seconds, when `--timeout-ms` is not given (gunicorn's worker timeout).
    #[arg(long, value_name = "SECONDS", env = "WORKER_TIMEOUT", hide = true)]
    pub(crate) worker_timeout: Option<u64>,
    /// The largest request body accepted (413 above it).
    #[arg(long, value_name = "MIB", default_value_t = 100)]
    pub(crate) max_body_mb: usize,
    /// How long `deploy` waits for the service to be ready.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub(crate) startup_timeout: u64,
    /// Origins allowed by CORS, comma-separated (`*` for any).
    #[arg(
        long,
        value_name = "ORIGINS",
        env = "AML_CORS_ORIGINS",
        alias = "access-control-allow-origins"
    )]
    pub(crate) cors_origins: Option<String>,
    /// A second port, on the same address, for health probes (serves the same routes).
    #[arg(long, value_name = "PORT")]
    pub(crate) health_port: Option<u16>,
    /// Leave out the `x-ms-server-version` response header.
    #[arg(long)]
    pub(crate) no_server_version_header: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServiceCommand {
    /// List services: name, state, URL, models, environment.
    #[command(after_help = "Example:\n  strata service list --json")]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a service and the lineage of its models.
    #[command(after_help = "Example:\n  strata service show mysvc")]
    Show {
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a service's log (requests, `print()` from score.py, worker events).
    #[command(after_help = "Example:\n  strata service logs mysvc --follow")]
    Logs {
        name: String,
        #[arg(long, short)]
        follow: bool,
    },
    /// Restart the workers with fresh copies of the entry script and source directory.
    #[command(after_help = "Example:\n  strata service reload mysvc")]
    Reload {
        name: String,
        /// Wait until every new worker has finished `init()` (the default).
        #[arg(long, conflicts_with = "no_wait")]
        wait: bool,
        /// Return once the server was told to reload.
        #[arg(long)]
        no_wait: bool,
    },
    /// Stop a service and free its port.
    #[command(after_help = "Example:\n  strata service delete mysvc")]
    Delete { name: String },
}
