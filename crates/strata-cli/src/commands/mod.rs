//! One module per command; each returns when done, errors go back to `main`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Parser;
use strata_spec::EnvironmentRef;
use strata_store::Workspace;

use crate::cli::{
    CacheCommand, Cli, Command, ComputeCommand, EnvCommand, ImageCommand, ModelCommand,
    RunsCommand, ServiceCommand,
};
use crate::errors::{self, UsageError};

pub(crate) mod build;
mod cache;
pub(crate) mod compute;
pub(crate) mod env;
pub(crate) mod image;
mod init;
pub(crate) mod interactive;
mod model;
mod push;
mod quickstart;
pub(crate) mod remote;
mod run;
mod run_remote;
mod runs;
pub(crate) mod serve;
mod serve_settings;
mod server;
mod service;
pub(crate) mod ui;

pub(crate) fn main() -> ExitCode {
    crate::memory::start();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    crate::logging::init(cli.verbose);
    crate::memory::configure(&cli.command);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => errors::report(&error),
    }
}

fn run(cli: Cli) -> Result<()> {
    let context = Context::new(cli.workspace)?;
    match cli.command {
        Command::Init { dir } => init::run(&context, dir.as_deref()),
        Command::Quickstart { keep } => quickstart::run(keep),
        Command::Workspace(crate::cli::WorkspaceCommand::Push { url, json }) => {
            push::run(&context, &url, json)
        }
        Command::Server(command) => server::run(command, context.workspace_arg()),
        Command::Login(args) => server::login(&args),
        Command::Logout { url } => server::logout(&url),
        Command::Ui(args) => ui::run(&context, &args),
        Command::Deploy(args) => serve::deploy(
            &context,
            &args.name,
            &args.options,
            &args.container,
            args.json,
        ),
        Command::Serve(args) => match &args.service {
            Some(name) => serve::serve_service(&context, name, args.options.max_body_mb),
            None => serve::serve_foreground(&context, &args.options),
        },
        Command::Service(command) => match command {
            ServiceCommand::List { json } => service::list(&context, json),
            ServiceCommand::Show { name, json } => service::show(&context, &name, json),
            ServiceCommand::Logs { name, follow } => service::logs(&context, &name, follow),
            ServiceCommand::Reload {
                name,
                wait: _,
                no_wait,
            } => service::reload(&context, &name, !no_wait),
            ServiceCommand::Delete { name } => service::delete(&context, &name),
        },
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "strata", &mut out);
            crate::printer::raw_stdout(&out);
            Ok(())
        }
        Command::Run(args) => run::run(&context, &args),
        Command::Compute(command) => match command {
            ComputeCommand::Attach(args) => compute::attach(&context, &args),
            ComputeCommand::List { json } => compute::list(&context, json),
            ComputeCommand::Show { name, json } => compute::show(&context, &name, json),
            ComputeCommand::Detach { name } => compute::detach(&context, &name),
            ComputeCommand::JobStep { spec } => compute::job_step(&spec),
        },
        Command::Runs(command) => match command {
            RunsCommand::List { experiment, json } => {
                runs::list(&context, experiment.as_deref(), json)
            }
            RunsCommand::Show { run_id, json } => runs::show(&context, &run_id, json),
            RunsCommand::Logs { run_id, follow } => runs::logs(&context, &run_id, follow),
            RunsCommand::Cancel { run_id } => runs::cancel(&context, &run_id),
            RunsCommand::Wait { run_id } => runs::wait(&context, &run_id),
            RunsCommand::Env { run_id, json } => runs::env(&context, &run_id, json),
            RunsCommand::Download { run_id, directory } => {
                runs::download(&context, &run_id, &directory)
            }
            RunsCommand::Create(args) => interactive::create(&context, &args),
            RunsCommand::Log(args) => interactive::log(&context, &args),
            RunsCommand::Upload(args) => interactive::upload(&context, &args),
            RunsCommand::Complete(args) => interactive::complete(&context, &args),
            RunsCommand::Files(args) => interactive::files(&context, &args),
            RunsCommand::File(args) => interactive::file(&context, &args),
            RunsCommand::Supervise {
                run_id,
                grace,
                report_to,
            } => match report_to {
                Some(url) => run_remote::supervise_reporting(&context, &url, &run_id, grace),
                None => run::supervise_detached(&context, &run_id, grace),
            },
        },
        Command::Model(command) => match command {
            ModelCommand::Register {
                name,
                run,
                path,
                description,
                json,
            } => model::register(&context, &name, run.as_deref(), &path, description, json),
            ModelCommand::List { all_versions, json } => model::list(&context, all_versions, json),
            ModelCommand::Show { model, json } => model::show(&context, &model, json),
            ModelCommand::Download { model, directory } => {
                model::download(&context, &model, &directory)
            }
        },
        Command::Cache(CacheCommand::List { json }) => cache::list(&context, json),
        Command::Cache(CacheCommand::Gc {
            max_size,
            dry_run,
            json,
        }) => cache::gc(&context, max_size, dry_run, json),
        Command::Image(command) => match command {
            ImageCommand::Base {
                kind,
                suite,
                rebuild,
                json,
            } => image::make_base(kind, &suite, rebuild, json),
            ImageCommand::List { json } => image::list(&context, json),
            ImageCommand::Rm { references, all } => image::remove(&context, &references, all),
        },
        Command::Env(command) => match command {
            EnvCommand::Scaffold {
                name,
                directory,
                overwrite,
            } => env::scaffold(&name, &directory, overwrite),
            EnvCommand::Register { source, json } => env::register(&context, &source, json),
            EnvCommand::AddPackage {
                environment,
                packages,
                conda,
                pip,
                channel,
                json,
            } => {
                if conda == pip {
                    return Err(UsageError::new("Say which kind of package to add")
                        .hint(
                            "Pass `--conda` for conda match specs or `--pip` for pip requirements",
                        )
                        .into());
                }
                if pip && !channel.is_empty() {
                    return Err(UsageError::new("`--channel` applies to conda packages only")
                        .hint("Use it with `--conda`; pip indexes are pip options such as `--extra-index-url URL`")
                        .into());
                }
                env::add_package(&context, &environment, &packages, conda, &channel, json)
            }
            EnvCommand::AddWheel {
                file,
                to,
                exist_ok,
                json,
            } => env::add_wheel(&context, &file, to.as_deref(), exist_ok, json),
            EnvCommand::List {
                all_versions,
                all,
                definitions,
                json,
            } => env::list(&context, all_versions, all, definitions, json),
            EnvCommand::Show {
                environment,
                label,
                json,
            } => env::show(&context, &environment, label.as_deref(), json),
            EnvCommand::Label(args) => env::label(&context, &args),
            EnvCommand::Download {
                name,
                version,
                directory,
                overwrite,
                format,
            } => env::download(
                &context,
                &name,
                version.as_ref(),
                &directory,
                overwrite,
                format,
            ),
            EnvCommand::Diff { old, new, json } => env::diff(&context, &old, &new, json),
            EnvCommand::Copy { source, name, json } => env::copy(&context, &source, &name, json),
            EnvCommand::Hash { source, json } => env::hash(&source, json),
            EnvCommand::Search(args) => env::search(&context, &args),
            EnvCommand::Sbom(args) => env::sbom(&context, &args),
            EnvCommand::Audit(args) => env::audit(&context, &args),
            EnvCommand::Lock {
                environment,
                refresh,
                json,
            } => build::lock(&context, &environment, refresh, json),
            EnvCommand::Build { environment, json } => build::build(&context, &environment, json),
            EnvCommand::Image(args) => image::env_image(&context, &args),
            EnvCommand::ImageDetails(args) => env::image_details(&context, &args),
            EnvCommand::Exec {
                environment,
                command,
            } => build::exec(&context, &environment, &command),
            EnvCommand::Shell { environment } => build::shell(&context, &environment),
            EnvCommand::BuildLog { environment } => build::build_log(&context, &environment),
            EnvCommand::Update {
                name,
                refresh: _,
                json,
            } => build::lock(&context, &name, true, json),
        },
    }
}

/// What every command may need: where it runs and which workspace it means.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) cwd: PathBuf,
    workspace: Option<PathBuf>,
}

impl Context {
    fn new(workspace: Option<PathBuf>) -> Result<Self> {
        let cwd = std::env::current_dir().context("Failed to read the current directory")?;
        Ok(Self { cwd, workspace })
    }

    /// The server workspace URL given as `--workspace` / `STRATA_WORKSPACE`, if it is one.
    pub(crate) fn server_url(&self) -> Option<&str> {
        self.workspace
            .as_deref()
            .and_then(Path::to_str)
            .filter(|text| remote::is_url(text))
    }

    /// The workspace's records and blobs, embedded or on a server.
    pub(crate) fn open(&self) -> Result<remote::Opened> {
        remote::Opened::open(self)
    }

    /// Opens the embedded workspace named by `--workspace` / `STRATA_WORKSPACE`, or the
    /// nearest one.
    pub(crate) fn open_workspace(&self) -> Result<Workspace> {
        if let Some(url) = self.server_url() {
            return Err(UsageError::new(format!(
                "This command works on an embedded workspace; `{url}` is a server workspace"
            ))
            .hint("Every other command works against a server; on this machine, in its working copy of the server workspace where it needs files (builds, images, runs, services). Embedded only: `ui` (the server serves the pages) and `workspace push` (from an embedded workspace); see docs/server.md")
            .into());
        }
        let root = Workspace::discover(self.workspace.as_deref(), &self.cwd)?;
        let mut workspace = Workspace::open(&root)?;
        // Runs whose supervisor died are settled before anything reads them.
        strata_core::runs::reap_orphans(&mut workspace);
        Ok(workspace)
    }

    /// The same place, with another workspace.
    pub(crate) fn with_workspace(&self, workspace: impl Into<PathBuf>) -> Self {
        Self {
            cwd: self.cwd.clone(),
            workspace: Some(workspace.into()),
        }
    }

    pub(crate) fn workspace_arg(&self) -> Option<&Path> {
        self.workspace.as_deref()
    }
}

/// Parses `NAME[:VERSION]`.
pub(crate) fn parse_ref(text: &str) -> Result<EnvironmentRef> {
    Ok(text.parse::<EnvironmentRef>()?)
}

pub(crate) use strata_store::format_time;
