//! The quickstart: the main workflow, step by step, in a fresh embedded workspace — an
//! environment from a requirements file, its versions and diff, a build and its cache hit, a
//! tracked training run with a metric, a model registered from it with its lineage, and the
//! model served in the environment it was trained in. Each finished step is reported with
//! what it made; the caller renders it.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_build::Reporter;
use strata_spec::{
    Environment, EnvironmentDiff, EnvironmentVersion, read_requirements_file, write_v1_dir,
};
use strata_store::store::SqliteStore;
use strata_store::{
    COMPLETED, EnvironmentRecord, EnvironmentSummary, ModelRecord, RegisterOptions, RunRecord,
    ServiceConfig, ServiceRecord, Workspace,
};

use crate::serving::{self, Deployment, Launcher};
use crate::{Built, ModelSource, runs};

pub use error::{QuickstartError, StepError};

mod error;
mod project;
mod score;

/// The environment, experiment, model and service the quickstart makes.
pub const ENVIRONMENT: &str = "trainenv";
pub const EXPERIMENT: &str = "quickstart";
pub const MODEL: &str = "quickstart-model";
pub const SERVICE: &str = "quickstart-svc";
/// The package the second version adds.
pub const ADDED_PACKAGE: &str = "six==1.16.0";

/// What a finished step made.
pub enum StepOutcome<'a> {
    /// The workspace, and beside it a project with `requirements.txt`, `train.py` and
    /// `score.py`.
    WorkspaceCreated { workspace: &'a Path },
    /// The definition read from the requirements file.
    Defined { environment: &'a Environment },
    /// Its first version.
    Registered { record: &'a EnvironmentRecord },
    /// The same definition registered again: the same version.
    Unchanged { record: &'a EnvironmentRecord },
    /// The next version, with [`ADDED_PACKAGE`].
    PackageAdded { record: &'a EnvironmentRecord },
    /// The registered environments, and what changed between the two versions.
    Listed {
        environments: &'a [EnvironmentSummary],
        old: &'a EnvironmentRecord,
        new: &'a EnvironmentRecord,
        diff: &'a EnvironmentDiff,
    },
    /// Version 1 written as Azure ML's environment directory.
    Downloaded { directory: &'a Path },
    /// The second version locked and built (or found built in the cache).
    Built { built: &'a Built },
    /// Built again: the same prefix, from the cache.
    CacheHit { built: &'a Built },
    /// The training run, completed, with the accuracy it logged.
    Ran {
        run: &'a RunRecord,
        accuracy: Option<&'a serde_json::Value>,
    },
    /// The model registered from the run's `outputs/model.pkl`.
    ModelRegistered { model: &'a ModelRecord },
    /// The model served with `score.py`.
    Deployed {
        service: &'a ServiceRecord,
        environment: &'a EnvironmentRecord,
    },
    /// Each request sent to `/score` and the answer.
    Scored {
        answers: &'a [(&'static str, String)],
    },
    /// The run's environment, and the model and service it led to.
    Lineage {
        run: &'a RunRecord,
        environment: &'a EnvironmentRecord,
        model: &'a ModelRecord,
        service: &'a ServiceRecord,
    },
    /// The service stopped; its port is free.
    ServiceDeleted { port: u16 },
}

/// Where the quickstart reports its steps.
pub trait QuickstartReporter {
    /// Step `number` (`title`) finished in `elapsed` with `outcome`.
    fn step(&self, number: usize, title: &str, elapsed: Duration, outcome: &StepOutcome<'_>);
}

/// How to run the quickstart.
pub struct Quickstart<'a> {
    /// An empty directory: the workspace is made in it, the project beside it.
    pub root: &'a Path,
    /// Leave the service running at the end.
    pub keep_service: bool,
    /// Starts the deployment's server ([`serving::deploy`]).
    pub launch: Launcher<'a>,
    /// Progress of the build and deployment.
    pub progress: &'a dyn Reporter,
}

/// The quickstart's result: the service, running when it was kept.
pub struct QuickstartDone {
    pub workspace: PathBuf,
    pub service: ServiceRecord,
}

/// Runs every step in order; the first that fails ends the quickstart with its number,
/// title and cause.
pub fn quickstart(
    options: &Quickstart<'_>,
    reporter: &dyn QuickstartReporter,
) -> Result<QuickstartDone, QuickstartError> {
    let mut steps = Steps {
        number: 0,
        reporter,
    };
    let root = options.root;
    let project = root.join("project");

    let mut workspace = steps.run(
        "Create an embedded workspace",
        || {
            let workspace = Workspace::init(root)?;
            project::write(&project)?;
            Ok(workspace)
        },
        |workspace, done| {
            done(&StepOutcome::WorkspaceCreated {
                workspace: workspace.root(),
            })
        },
    )?;
    let workspace_root = workspace.root().to_path_buf();

    let definition = steps.run(
        "Define an environment from requirements.txt",
        || {
            let parsed = read_requirements_file(&project.join("requirements.txt"))?;
            Ok(Environment::from_pip_requirements(
                ENVIRONMENT,
                parsed.value,
                None,
            ))
        },
        |environment, done| done(&StepOutcome::Defined { environment }),
    )?;

    let first = steps.run(
        "Register it",
        || Ok(workspace.register_environment(definition.clone(), RegisterOptions::default())?),
        |registration, done| {
            done(&StepOutcome::Registered {
                record: &registration.record,
            })
        },
    )?;

    steps.run(
        "Register it again, unchanged",
        || {
            let again =
                workspace.register_environment(definition.clone(), RegisterOptions::default())?;
            if again.created || again.record.version != first.record.version {
                return Err(StepError::Unexpected(format!(
                    "An unchanged definition made version `{}`",
                    again.record.version
                )));
            }
            Ok(again)
        },
        |again, done| {
            done(&StepOutcome::Unchanged {
                record: &again.record,
            })
        },
    )?;

    let second = steps.run(
        "Add a pip package",
        || {
            Ok(
                workspace.update_environment(ENVIRONMENT, None, |environment| {
                    Ok(environment.add_pip_package(ADDED_PACKAGE)?)
                })?,
            )
        },
        |registration, done| {
            done(&StepOutcome::PackageAdded {
                record: &registration.record,
            })
        },
    )?;

    steps.run(
        "List environments and diff the versions",
        || {
            let environments = workspace.list_environments(false, false)?;
            let diff =
                EnvironmentDiff::between(&first.record.environment, &second.record.environment);
            Ok((environments, diff))
        },
        |(environments, diff), done| {
            done(&StepOutcome::Listed {
                environments,
                old: &first.record,
                new: &second.record,
                diff,
            })
        },
    )?;

    let downloaded = root.join("downloaded");
    steps.run(
        "Download version 1 in Azure ML's format",
        || {
            let record =
                workspace.get_environment(ENVIRONMENT, Some(&EnvironmentVersion::number(1)))?;
            write_v1_dir(&record.environment, &downloaded, false)?;
            Ok(())
        },
        |(), done| {
            done(&StepOutcome::Downloaded {
                directory: &downloaded,
            })
        },
    )?;

    let version = second.record.version.clone();
    let built = steps.run(
        &format!("Build {ENVIRONMENT}:{version} (lock with uv, install into the cache)"),
        || {
            Ok(crate::ensure_built(
                &mut workspace,
                ENVIRONMENT,
                Some(&version),
                options.progress,
            )?)
        },
        |built, done| done(&StepOutcome::Built { built }),
    )?;

    steps.run(
        "Build it again",
        || {
            let again = crate::ensure_built(
                &mut workspace,
                ENVIRONMENT,
                Some(&version),
                options.progress,
            )?;
            if again.prefix.path != built.prefix.path || !again.prefix.reused {
                return Err(StepError::Unexpected(format!(
                    "The second build did not reuse `{}`",
                    built.prefix.path.display()
                )));
            }
            Ok(again)
        },
        |again, done| done(&StepOutcome::CacheHit { built: again }),
    )?;

    let (run, _) = steps.run(
        &format!("Run train.py as a tracked run of experiment `{EXPERIMENT}`"),
        || train(&mut workspace, &project, &version, options.progress),
        |(run, metrics), done| {
            done(&StepOutcome::Ran {
                run,
                accuracy: metrics
                    .iter()
                    .find(|m| m.name == "accuracy")
                    .map(|m| &m.value),
            })
        },
    )?;

    let model = steps.run(
        "Register the model from the run's outputs",
        || register_model(&workspace_root, &run.id),
        |model, done| done(&StepOutcome::ModelRegistered { model }),
    )?;
    drop(workspace);

    let (service, _) = steps.run(
        "Deploy the model with score.py in the same environment",
        || {
            let port = free_port().map_err(StepError::Port)?;
            let deployment = Deployment {
                name: SERVICE.to_string(),
                models: vec![(MODEL.to_string(), Some(model.version))],
                env: None,
                entry_script: project.join("score.py"),
                source_dir: None,
                host: IpAddr::from([127, 0, 0, 1]),
                port,
                config: ServiceConfig {
                    workers: 1,
                    cpu_cores: None,
                    memory_gb: None,
                    timeout_ms: 60_000,
                    container: None,
                    model_dir: None,
                    cors_origins: Vec::new(),
                    health_port: None,
                    server_version_header: true,
                },
                max_body_mb: 100,
                startup_timeout: Duration::from_secs(300),
                container: None,
            };
            Ok(serving::deploy(
                &workspace_root,
                &deployment,
                options.launch,
                options.progress,
            )?)
        },
        |(service, environment), done| {
            done(&StepOutcome::Deployed {
                service,
                environment,
            })
        },
    )?;

    steps.run(
        "Score three requests",
        || score::three_requests(service.port),
        |answers, done| done(&StepOutcome::Scored { answers }),
    )?;

    steps.run(
        "Show the run's environment and the service's lineage",
        || {
            let workspace = Workspace::open(&workspace_root)?;
            let record = workspace.get_environment(&run.env_name, Some(&run.env_version))?;
            let model = workspace.get_model(MODEL, Some(model.version))?;
            Ok((record, model))
        },
        |(record, model), done| {
            done(&StepOutcome::Lineage {
                run: &run,
                environment: record,
                model,
                service: &service,
            })
        },
    )?;

    if !options.keep_service {
        steps.run(
            "Delete the service",
            || {
                let workspace = Workspace::open(&workspace_root)?;
                Ok(serving::delete_service(&workspace, SERVICE)?)
            },
            |deleted, done| done(&StepOutcome::ServiceDeleted { port: deleted.port }),
        )?;
    }
    Ok(QuickstartDone {
        workspace: workspace_root,
        service,
    })
}

/// Runs `train.py` in the built version as a run of [`EXPERIMENT`] on this machine; answers
/// the completed run and its metrics.
fn train(
    workspace: &mut Workspace,
    project: &Path,
    version: &EnvironmentVersion,
    progress: &dyn Reporter,
) -> Result<(RunRecord, Vec<strata_store::Metric>), StepError> {
    let files = [PathBuf::from("requirements.txt"), PathBuf::from("train.py")];
    let queued = runs::create_run(
        workspace,
        EXPERIMENT,
        (ENVIRONMENT.to_string(), version.clone()),
        project,
        &files,
        ("train.py".to_string(), Vec::new()),
        "local",
    )?;
    let supervision = runs::Supervision {
        sink: Arc::new(strata_run::NoSink),
        grace: Duration::from_secs(10),
        reporter: progress,
        progress: &strata_compute::SilentProgress,
    };
    let outcome = runs::supervise(workspace, &queued.id, &supervision)?;
    let run = workspace.get_run(&queued.id)?;
    if outcome.status != COMPLETED {
        let log = std::fs::read_to_string(Path::new(&run.run_dir).join(strata_run::STD_LOG))
            .unwrap_or_default();
        return Err(StepError::RunEnded {
            status: outcome.status.to_string(),
            error: outcome.error.unwrap_or_default(),
            log,
        });
    }
    let metrics = workspace.run_metrics(&run.id)?;
    Ok((run, metrics))
}

/// The model of the run's `outputs/model.pkl`, with its lineage.
fn register_model(workspace: &Path, run: &str) -> Result<ModelRecord, StepError> {
    let store = SqliteStore::new(Workspace::open(workspace)?);
    let blobs = store.blobs();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StepError::Runtime)?;
    let registered = runtime.block_on(crate::register_model(
        &store,
        &blobs,
        MODEL,
        ModelSource::Run {
            id: run,
            path: "outputs/model.pkl",
        },
        None,
    ))?;
    Ok(registered.record)
}

/// A port of loopback nobody listens on now, for the service.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Numbers the steps, times them and reports each one that finished.
struct Steps<'a> {
    number: usize,
    reporter: &'a dyn QuickstartReporter,
}

impl Steps<'_> {
    fn run<T>(
        &mut self,
        title: &str,
        step: impl FnOnce() -> Result<T, StepError>,
        report: impl FnOnce(&T, &dyn Fn(&StepOutcome<'_>)),
    ) -> Result<T, QuickstartError> {
        self.number += 1;
        let started = Instant::now();
        match step() {
            Ok(value) => {
                let (number, elapsed, reporter) = (self.number, started.elapsed(), self.reporter);
                report(&value, &|outcome| {
                    reporter.step(number, title, elapsed, outcome)
                });
                Ok(value)
            }
            Err(source) => Err(QuickstartError {
                number: self.number,
                title: title.to_string(),
                source: Box::new(source),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    struct Counted(Cell<usize>);

    impl QuickstartReporter for Counted {
        fn step(&self, _: usize, _: &str, _: Duration, _: &StepOutcome<'_>) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn the_failed_step_is_named_with_its_cause_and_nothing_after_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        Workspace::init(dir.path()).unwrap();
        let launch = |_: &Path, _: &str| std::process::Command::new("false");
        let counted = Counted(Cell::new(0));
        let error = quickstart(
            &Quickstart {
                root: dir.path(),
                keep_service: false,
                launch: &launch,
                progress: &strata_build::SilentReporter,
            },
            &counted,
        )
        .err()
        .unwrap();
        assert_eq!(
            error.to_string(),
            "Quickstart step 1 failed: Create an embedded workspace"
        );
        assert!(
            matches!(
                *error.source,
                StepError::Store(strata_store::StoreError::WorkspaceExists { .. })
            ),
            "{:?}",
            error.source
        );
        assert_eq!(counted.0.get(), 0);
        assert!(!dir.path().join("project").exists());
    }
}
