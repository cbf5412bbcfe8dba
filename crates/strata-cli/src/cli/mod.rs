//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod compute;
mod server;
mod serving;

pub(crate) use compute::{AttachArgs, ComputeCommand, ResourceArgs};
pub(crate) use server::{
    LoginArgs, ServerCommand, ServerTokenCommand, ServerWorkspaceCommand, WorkspaceCommand,
};
pub(crate) use serving::{ContainerOptions, DeployArgs, ServeArgs, ServiceCommand, ServingOptions};

/// Reusable ML environments: define once, register with automatic versions, build once,
/// reuse everywhere.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about = "Reusable ML environments: define once, version automatically, build once, train and serve in the same environment", long_about = None, after_help = "Example:\n  strata init && strata env register --name trainenv --requirements requirements.txt")]
pub(crate) struct Cli {
    /// The workspace: a directory, or a server workspace `http(s)://HOST[:PORT]/w/NAME`
    /// (default: the nearest `.strata/` upward from here).
    #[arg(long, global = true, env = "STRATA_WORKSPACE", value_name = "DIR|URL")]
    pub(crate) workspace: Option<PathBuf>,

    /// Say more on stderr, before the command: `-v` the commands Strata runs (uv, podman, the
    /// interpreter) and what it decides, `-vv` also the libraries' detail. `RUST_LOG` (e.g.
    /// `RUST_LOG=strata_build=trace`) picks precisely.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create an embedded workspace (`.strata/`: SQLite and blobs) in a directory.
    #[command(after_help = "Example:\n  strata init")]
    Init {
        /// Where to create it (default: the current directory).
        dir: Option<PathBuf>,
    },
    /// Define, register, version and inspect environments.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Run a script as a tracked run in an environment (built first when needed).
    #[command(
        after_help = "Examples:\n  strata run train.py --lr 0.1\n  strata run --target container --env trainenv train.py\n  strata run --target hpc --env trainenv --cpus 4 --memory 8G --time 2h train.py --lr 0.1\n  strata run --experiment mnist --env trainenv:3 --source-dir src train.py --data-folder ./data\n  strata run --requirements requirements.txt train.py\n  strata run --detach train.py && strata runs wait RUN_ID"
    )]
    Run(RunArgs),
    /// List, inspect, follow, cancel and download runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Register, list and download models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Deploy models as a web service: a Rust HTTP server with Python workers running score.py.
    #[command(
        after_help = "Examples:\n  strata deploy mysvc --model mymodel:1 --entry-script score.py --env trainenv:3 --port 8890\n  strata deploy mysvc --container --model mymodel:1 --entry-script score.py"
    )]
    Deploy(DeployArgs),
    /// Serve models in the foreground (Ctrl-C stops); `deploy` runs the same server detached.
    #[command(
        after_help = "Example:\n  strata serve --model mymodel:1 --entry-script score.py --env trainenv:3 --port 8890"
    )]
    Serve(ServeArgs),
    /// List, inspect, follow, reload and delete deployed services.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Attach, list and detach compute targets (Slurm clusters) that runs go to.
    #[command(subcommand)]
    Compute(ComputeCommand),
    /// Inspect and clean the cache of built environments.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Make base images, list and remove container images (`strata env image` builds them).
    #[command(subcommand)]
    Image(ImageCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  strata completions bash > ~/.local/share/bash-completion/completions/strata\n  strata completions zsh > \"${fpath[1]}/_strata\"\n  strata completions fish > ~/.config/fish/completions/strata.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Serve the workspace's web page on 127.0.0.1 (prints the URL; Ctrl-C stops).
    #[command(after_help = "Examples:\n  strata ui\n  strata ui --port 8080")]
    Ui(crate::commands::ui::UiArgs),
    /// Run a team server: shared workspaces on PostgreSQL and S3, with tokens and roles.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Save a token for a server workspace (in a 0600 credentials file), after checking it.
    #[command(
        after_help = "Examples:\n  strata login http://127.0.0.1:8080/w/team --token-stdin < token.txt\n  STRATA_TOKEN=... strata login https://strata.example.com/w/team"
    )]
    Login(LoginArgs),
    /// Move workspaces between machines and servers.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Forget the saved token of a server.
    #[command(after_help = "Example:\n  strata logout http://127.0.0.1:8080/w/team")]
    Logout {
        /// The server workspace URL given to `strata login`.
        url: String,
    },
    /// Walk through the main workflow in a temporary workspace, printing each step.
    #[command(after_help = "Example:\n  strata quickstart --keep")]
    Quickstart {
        /// Keep the temporary workspace and print where it is.
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EnvCommand {
    /// Write a new environment directory (azureml_environment.json + conda_dependencies.yml).
    #[command(after_help = "Example:\n  strata env scaffold -n myenv -d myenvdir")]
    Scaffold {
        /// The environment name.
        #[arg(short, long)]
        name: String,
        /// The directory to create.
        #[arg(short, long)]
        directory: PathBuf,
        /// Replace the environment files of an existing directory.
        #[arg(long)]
        overwrite: bool,
    },
    /// Register a definition: a new version when it changed, the same version when it did not.
    #[command(
        after_help = "Examples:\n  strata env register -d myenvdir\n  strata env register --name trainenv --requirements requirements.txt\n  strata env register --file env.yml"
    )]
    Register {
        #[command(flatten)]
        source: DefinitionSource,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a conda or pip package; registers the result as a new version.
    #[command(
        name = "add-package",
        after_help = "Examples:\n  strata env add-package myenv \"numpy==1.26.4\" --conda\n  strata env add-package myenv pillow --pip"
    )]
    AddPackage {
        /// The environment (`NAME` for the latest version, or `NAME:VERSION`).
        environment: String,
        /// Package specs (conda match specs with `--conda`, pip requirements with `--pip`).
        #[arg(required = true)]
        packages: Vec<String>,
        /// Add conda packages.
        #[arg(long, conflicts_with = "pip")]
        conda: bool,
        /// Add pip packages.
        #[arg(long)]
        pip: bool,
        /// Add a conda channel too, ahead of the packages (with `--conda`).
        #[arg(long)]
        channel: Vec<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store a private wheel in the workspace and print its `strata://wheels/...` reference.
    #[command(
        name = "add-wheel",
        after_help = "Example:\n  strata env add-wheel dist/my_pkg-0.1-py3-none-any.whl"
    )]
    AddWheel {
        /// The wheel file.
        file: PathBuf,
        /// Also add it as a pip package to this environment (a new version).
        #[arg(long, value_name = "ENVIRONMENT")]
        to: Option<String>,
        /// Accept a wheel whose file name is already stored (same bytes: the same reference;
        /// other bytes: stored beside it). Without it such a wheel is refused.
        #[arg(long)]
        exist_ok: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List environments (latest versions by default).
    #[command(after_help = "Example:\n  strata env list --all-versions --json")]
    List {
        /// Show every version, not only the latest.
        #[arg(long)]
        all_versions: bool,
        /// Include anonymous environments registered by runs and deployments.
        #[arg(long)]
        all: bool,
        /// With `--json`: each version's definition too (as `env show --json` prints it).
        #[arg(long, requires = "json")]
        definitions: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one environment version (the latest when no version is given).
    #[command(after_help = "Example:\n  strata env show myenv:2 --json")]
    Show {
        /// `NAME` or `NAME:VERSION`.
        environment: String,
        /// The version this label names (`strata env label`), instead of a version.
        #[arg(long)]
        label: Option<String>,
        /// Print JSON (the Azure ML dict with the conda specification inline).
        #[arg(long)]
        json: bool,
    },
    /// Write a registered environment to a directory in Azure ML's format.
    #[command(after_help = "Example:\n  strata env download -n myenv -v 1 -d outdir")]
    Download {
        /// The environment name.
        #[arg(short, long)]
        name: String,
        /// The version (default: the latest, the one registered last).
        #[arg(short, long)]
        version: Option<strata_spec::EnvironmentVersion>,
        /// The directory to write.
        #[arg(short, long)]
        directory: PathBuf,
        /// Replace the environment files of an existing directory.
        #[arg(long)]
        overwrite: bool,
        /// `v1`: azureml_environment.json + conda_dependencies.yml; `v2`: one environment.yml.
        #[arg(long, value_enum, default_value_t = Format::V1)]
        format: Format,
    },
    /// Put labels on an environment version (Azure ML's `Environment.label`); a label names
    /// one version of a name at a time, so labelling another version moves it.
    #[command(
        after_help = "Examples:\n  strata env label myenv:2 production\n  strata env show myenv --label production"
    )]
    Label(crate::commands::env::LabelArgs),
    /// Compare two environment versions: packages, channels and every other field.
    #[command(after_help = "Example:\n  strata env diff myenv:1 myenv:2")]
    Diff {
        /// `NAME[:VERSION]`.
        old: String,
        /// `NAME[:VERSION]`.
        new: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy an environment (curated ones included) under a new name you can change.
    #[command(after_help = "Example:\n  strata env copy Strata-Tutorial mytutorial")]
    Copy {
        /// `NAME[:VERSION]` to copy.
        source: String,
        /// The new name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Resolve a version to exact packages (its lock); a version keeps its lock once it has one.
    ///
    /// On a server workspace the lock is the server's: the one it has, or one resolved here and
    /// stored there (the first lock stored wins); `--refresh` registers a moved resolution as
    /// the server's next version.
    #[command(
        after_help = "Examples:\n  strata env lock myenv\n  strata env lock myenv:2 --refresh"
    )]
    Lock {
        /// `NAME` or `NAME:VERSION`.
        environment: String,
        /// Resolve again; a different result is registered as a new version.
        #[arg(long)]
        refresh: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build a version (or reuse its cached build) and print the prefix path.
    ///
    /// On a server workspace the build happens on this machine, from the server's lock, and is
    /// recorded on the server (a failed one too, with its log).
    #[command(after_help = "Example:\n  strata env build myenv --json")]
    Build {
        /// `NAME` or `NAME:VERSION`.
        environment: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build a reproducible OCI container image of a version, without a Docker daemon: the base
    /// image plus the environment as one layer, named by content (`strata/env_<hash>`).
    #[command(
        after_help = "Examples:\n  strata env image myenv\n  strata env image myenv:2 --base-archive python-base.tar --load\n  strata env image myenv --push 127.0.0.1:5000/ml/myenv\n  strata env image myenv --output oci-archive myenv.tar"
    )]
    Image(EnvImageArgs),
    /// Where a version is built, without building it: its interpreter and prefix, and its
    /// container image (Azure ML's `Environment.get_image_details`).
    #[command(
        name = "image-details",
        after_help = "Example:\n  strata env image-details myenv:2 --json"
    )]
    ImageDetails(crate::commands::env::ImageDetailsArgs),
    /// Run a command inside a version's environment (built first when needed).
    #[command(after_help = "Example:\n  strata env exec myenv -- python train.py --lr 0.1")]
    Exec {
        /// `NAME` or `NAME:VERSION`.
        environment: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Start a shell with a version's environment activated.
    #[command(after_help = "Example:\n  strata env shell myenv")]
    Shell {
        /// `NAME` or `NAME:VERSION`.
        environment: String,
    },
    /// Print the log of the last build (or failed lock) of a version.
    ///
    /// On a server workspace: the last build the server recorded, from any machine.
    #[command(
        name = "build-log",
        after_help = "Example:\n  strata env build-log myenv:2"
    )]
    BuildLog {
        /// `NAME` or `NAME:VERSION`.
        environment: String,
    },
    /// Re-resolve the latest version of an unchanged definition: a new version when the
    /// packages moved, with what changed.
    #[command(after_help = "Example:\n  strata env update myenv --refresh")]
    Update {
        /// The environment name.
        name: String,
        /// Resolve again (required: it is what `update` does).
        #[arg(long, required = true)]
        refresh: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find the environment versions whose locks have a package, and the runs, models and
    /// services that used them.
    #[command(
        after_help = "Examples:\n  strata env search 'numpy<1.22'\n  strata env search pillow --json\n  strata env search 'conda:openssl<3'"
    )]
    Search(crate::commands::env::SearchArgs),
    /// Write a CycloneDX 1.5 or SPDX 2.3 SBOM (JSON) of a version's lock.
    #[command(
        after_help = "Examples:\n  strata env sbom trainenv:3 --format cyclonedx -o trainenv-3.cdx.json\n  strata env sbom trainenv --format spdx"
    )]
    Sbom(crate::commands::env::SbomArgs),
    /// Check the pinned packages of locks against OSV vulnerability records.
    #[command(
        after_help = "Examples:\n  strata env audit trainenv:3 --advisories advisory-database/\n  strata env audit --all --advisories PyPI-all.zip --fail-on high"
    )]
    Audit(crate::commands::env::AuditArgs),
    /// Print the spec hash of a definition; needs no workspace.
    #[command(after_help = "Example:\n  strata env hash -d myenvdir")]
    Hash {
        #[command(flatten)]
        source: DefinitionSource,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct EnvImageArgs {
    /// `NAME` or `NAME:VERSION`.
    pub(crate) environment: String,
    #[command(flatten)]
    pub(crate) base: BaseArgs,
    /// Copy the image into podman's image store (as `localhost/strata/env_<hash>:latest`), or
    /// Docker's when only docker is installed.
    #[arg(long)]
    pub(crate) load: bool,
    /// Push the image to a registry (`HOST[:PORT]/REPO[:TAG]`; the tag defaults to the image's
    /// own `env_<hash>`). Credentials come from `STRATA_REGISTRY_USERNAME` and
    /// `STRATA_REGISTRY_PASSWORD`.
    #[arg(long, value_name = "REGISTRY/REPO")]
    pub(crate) push: Option<String>,
    /// Also write the image as an OCI layout directory or an OCI archive.
    #[arg(long, num_args = 2, value_names = ["oci-dir|oci-archive", "PATH"])]
    pub(crate) output: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where an image's base comes from, overriding the definition's `docker` section.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct BaseArgs {
    /// The base image: a registry reference (`HOST/REPO:TAG` or `...@sha256:...`), an image
    /// in Strata's image store, or a skopeo transport (`oci:DIR:REF`, `oci-archive:FILE`,
    /// `docker-archive:FILE`, `containers-storage:NAME`).
    #[arg(long, value_name = "IMAGE", conflicts_with = "base_archive")]
    pub(crate) base: Option<String>,
    /// The base image from an OCI or docker archive (`podman save`, `docker save`).
    #[arg(long, value_name = "FILE.tar")]
    pub(crate) base_archive: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Make a base image with Python from Debian packages (mmdebstrap; no container registry
    /// needed), reproducibly.
    #[command(after_help = "Example:\n  strata image base debian-python --suite bookworm")]
    Base {
        /// The kind of base.
        #[arg(value_enum)]
        kind: BaseKind,
        /// The Debian suite.
        #[arg(long, default_value = "bookworm")]
        suite: String,
        /// Make it again even when it exists.
        #[arg(long)]
        rebuild: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the images in the image store: reference, digest, size, environment.
    #[command(after_help = "Example:\n  strata image list --json")]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove images from the image store and delete the layers no other image uses.
    #[command(
        after_help = "Examples:\n  strata image rm strata/env_0123abcd...\n  strata image rm --all"
    )]
    Rm {
        /// References as `strata image list` prints them.
        #[arg(required_unless_present = "all")]
        references: Vec<String>,
        /// Remove every image (base images included).
        #[arg(long, conflicts_with = "references")]
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BaseKind {
    /// Debian with python3, python3-venv and libstdc++6 (what manylinux wheels need).
    DebianPython,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The experiment the run belongs to.
    #[arg(long, default_value = "default")]
    pub(crate) experiment: String,
    /// A registered environment (`NAME` or `NAME:VERSION`); default: `Strata-Minimal`.
    #[arg(long, value_name = "NAME[:VERSION]", conflicts_with_all = ["env_dir", "requirements", "conda_file"])]
    pub(crate) env: Option<String>,
    /// An Azure ML environment directory, registered under its name.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["requirements", "conda_file"])]
    pub(crate) env_dir: Option<PathBuf>,
    /// A pip requirements file for an anonymous environment.
    #[arg(long, value_name = "FILE", conflicts_with = "conda_file")]
    pub(crate) requirements: Option<PathBuf>,
    /// A conda environment.yml for an anonymous environment.
    #[arg(long, value_name = "FILE")]
    pub(crate) conda_file: Option<PathBuf>,
    /// A pip package to add (repeatable), like Azure ML's Estimator `pip_packages`.
    #[arg(long = "pip-package", value_name = "REQUIREMENT")]
    pub(crate) pip_packages: Vec<String>,
    /// A conda package to add (repeatable).
    #[arg(long = "conda-package", value_name = "SPEC")]
    pub(crate) conda_packages: Vec<String>,
    /// The directory snapshotted and run in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) source_dir: PathBuf,
    /// Return at once with the run id; `strata runs wait ID` waits for it.
    #[arg(long)]
    pub(crate) detach: bool,
    /// Print the run as JSON when it was submitted (`--detach`) or has ended.
    #[arg(long)]
    pub(crate) json: bool,
    /// The snapshot size limit in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 300)]
    pub(crate) snapshot_max_mb: u64,
    /// The snapshot file-count limit.
    #[arg(long, value_name = "COUNT", default_value_t = 2000)]
    pub(crate) snapshot_max_files: usize,
    /// Seconds a canceled script gets between SIGTERM and SIGKILL.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub(crate) grace: u64,
    /// Where to run: `local`, `container`, or an attached target (`strata compute list`);
    /// default: `container` when the definition has `docker.enabled: true`, else `local`.
    #[arg(long, value_name = "TARGET")]
    pub(crate) target: Option<String>,
    #[command(flatten)]
    pub(crate) resources: ResourceArgs,
    /// The script, relative to the source directory.
    pub(crate) script: String,
    /// Arguments for the script, passed through unchanged.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) arguments: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// List runs, newest first.
    #[command(after_help = "Example:\n  strata runs list --experiment mnist")]
    List {
        /// Only runs of this experiment.
        #[arg(long)]
        experiment: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a run: status, times, exit code, environment, snapshot, metrics, outputs.
    #[command(after_help = "Example:\n  strata runs show mnist_1795855478_1a2b3c4d --json")]
    Show {
        run_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a run's output; `--follow` keeps printing until it ends.
    #[command(after_help = "Example:\n  strata runs logs RUN_ID --follow")]
    Logs {
        run_id: String,
        #[arg(long, short)]
        follow: bool,
    },
    /// Cancel a run: SIGTERM to its processes, SIGKILL after the grace period.
    #[command(after_help = "Example:\n  strata runs cancel RUN_ID")]
    Cancel { run_id: String },
    /// Wait for a run to end; exits 0 when it completed.
    #[command(after_help = "Example:\n  strata runs wait RUN_ID")]
    Wait { run_id: String },
    /// Show the environment definition a run used (like `Run.get_environment()`).
    #[command(after_help = "Example:\n  strata runs env RUN_ID --json")]
    Env {
        run_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download a run's `outputs/` and `logs/`.
    #[command(after_help = "Example:\n  strata runs download RUN_ID -d results")]
    Download {
        run_id: String,
        /// The directory to write (created).
        #[arg(short, long)]
        directory: PathBuf,
    },
    /// Start an interactive run recorded from the calling process (`Experiment.start_logging`).
    #[command(after_help = "Example:\n  strata runs create --experiment notebook --json")]
    Create(crate::commands::interactive::CreateArgs),
    /// Log metrics or tags to an interactive run.
    #[command(
        after_help = "Examples:\n  strata runs log RUN_ID alpha 0.03\n  strata runs log RUN_ID --jsonl metrics.jsonl"
    )]
    Log(crate::commands::interactive::LogArgs),
    /// Copy a file into an interactive run (`outputs/...` or `logs/...`).
    #[command(after_help = "Example:\n  strata runs upload RUN_ID outputs/model.pkl model.pkl")]
    Upload(crate::commands::interactive::UploadArgs),
    /// End an interactive run: store its files and metrics and set its final status.
    #[command(
        after_help = "Examples:\n  strata runs complete RUN_ID --outputs ./outputs\n  strata runs complete RUN_ID --status Failed --error \"ValueError: ...\""
    )]
    Complete(crate::commands::interactive::CompleteArgs),
    /// List a run's files (`outputs/...` and `logs/...`).
    #[command(after_help = "Example:\n  strata runs files RUN_ID --json")]
    Files(crate::commands::interactive::FilesArgs),
    /// Write one of a run's files (as `strata runs files` names it) to a path.
    #[command(after_help = "Example:\n  strata runs file RUN_ID outputs/model.pkl -o model.pkl")]
    File(crate::commands::interactive::FileArgs),
    /// Supervise a detached run (started by `strata run --detach`).
    #[command(hide = true)]
    Supervise {
        run_id: String,
        #[arg(long, default_value_t = 10)]
        grace: u64,
        /// The server workspace the run reports to (its working copy is local).
        #[arg(long)]
        report_to: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Register a model from a run's outputs or from local files: a new version each time.
    #[command(
        after_help = "Examples:\n  strata model register --name mymodel --run RUN_ID --path outputs/model.pkl\n  strata model register --name mymodel --path ./model_dir"
    )]
    Register {
        /// The model name.
        #[arg(long, short)]
        name: String,
        /// The run whose outputs hold the model.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// With `--run`: a path under the run's `outputs/`; otherwise a local file or directory.
        #[arg(long)]
        path: String,
        /// A description.
        #[arg(long)]
        description: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List models (latest versions by default).
    #[command(after_help = "Example:\n  strata model list --json")]
    List {
        /// Every version.
        #[arg(long)]
        all_versions: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a model version and its lineage.
    #[command(after_help = "Example:\n  strata model show mymodel:1")]
    Show {
        /// `NAME` or `NAME:VERSION`.
        model: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a model version's files to a directory.
    #[command(after_help = "Example:\n  strata model download mymodel:1 -d model")]
    Download {
        /// `NAME` or `NAME:VERSION`.
        model: String,
        /// The directory to write.
        #[arg(short, long)]
        directory: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// List built prefixes: size, last use, and the environment versions using them.
    #[command(after_help = "Example:\n  strata cache list --json")]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove prefixes nothing refers to, then the least recently used above a size cap.
    #[command(
        after_help = "Examples:\n  strata cache gc --dry-run\n  strata cache gc --max-size 20G"
    )]
    Gc {
        /// Keep at most this much (e.g. `500M`, `20G`) of prefixes still in use.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
        /// Print what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `123`, `500K`, `20M`, `1.5G`, `2T` (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let number: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as `500M` or `20G`"))?;
    let multiplier: f64 = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches('B')
        .trim_end_matches('I')
    {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit in `{text}` (use K, M, G or T)")),
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((number * multiplier) as u64)
}

/// Where a definition comes from. Combine `--image` or `--dockerfile` with `--requirements`
/// or `--conda-file` for packages on top of an image.
#[derive(Debug, Args)]
pub(crate) struct DefinitionSource {
    /// An Azure ML v1 environment directory (azureml_environment.json, conda_dependencies.yml).
    #[arg(short, long, value_name = "DIR", conflicts_with_all = ["file", "requirements", "conda_file", "conda_prefix", "image", "dockerfile"])]
    pub(crate) directory: Option<PathBuf>,
    /// An Azure ML v2 environment YAML file.
    #[arg(short, long, value_name = "FILE", conflicts_with_all = ["requirements", "conda_file", "conda_prefix", "image", "dockerfile"])]
    pub(crate) file: Option<PathBuf>,
    /// A pip requirements file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["conda_file", "conda_prefix"])]
    pub(crate) requirements: Option<PathBuf>,
    /// A conda environment.yml.
    #[arg(long, value_name = "FILE", conflicts_with = "conda_prefix")]
    pub(crate) conda_file: Option<PathBuf>,
    /// An existing conda environment directory (read from conda-meta; no conda needed).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["image", "dockerfile"])]
    pub(crate) conda_prefix: Option<PathBuf>,
    /// A Docker base image; user-managed (nothing installed) unless packages are given.
    #[arg(long, value_name = "IMAGE", conflicts_with = "dockerfile")]
    pub(crate) image: Option<String>,
    /// A Dockerfile whose text becomes the base image recipe.
    #[arg(long, value_name = "FILE")]
    pub(crate) dockerfile: Option<PathBuf>,
    /// The environment name (required unless the definition names itself: `-d`, `--file`, or
    /// the `name:` of a `--conda-file`).
    #[arg(short, long)]
    pub(crate) name: Option<String>,
    /// The Python version for `--requirements` (default: 3.11).
    #[arg(long, value_name = "X.Y")]
    pub(crate) python: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    V1,
    V2,
}
