//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reusable ML environments: define once, register with automatic versions, build once,
/// reuse everywhere.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None, after_help = "Example:\n  strata init && strata env register --name trainenv --requirements requirements.txt")]
pub(crate) struct Cli {
    /// The workspace directory (default: the nearest `.strata/` upward from here).
    #[arg(long, global = true, env = "STRATA_WORKSPACE", value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,

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
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one environment version (the latest when no version is given).
    #[command(after_help = "Example:\n  strata env show myenv:2 --json")]
    Show {
        /// `NAME` or `NAME:VERSION`.
        environment: String,
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
        /// The version (default: the latest).
        #[arg(short, long)]
        version: Option<u64>,
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
    /// The environment name (required unless the definition names itself).
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
