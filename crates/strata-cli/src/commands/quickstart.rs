//! `strata quickstart`: the main workflow, step by step, in a temporary workspace: an
//! environment from a requirements file, versions, a build and its cache hit, a tracked
//! training run with a metric, and a model registered from it with its lineage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use strata_spec::{
    Environment, EnvironmentDiff, EnvironmentVersion, read_requirements_file, write_v1_dir,
};
use strata_store::{COMPLETED, RegisterOptions, Workspace};

use crate::commands::env::render_diff_for_quickstart;
use crate::commands::{build, model, run as runs, serve};
use crate::printer;

const REQUIREMENTS: &str = "numpy\nscikit-learn\n";

const SCORE: &str = r#"import json
import pickle

from strata import Model


def init():
    global model
    with open(Model.get_model_path("quickstart-model"), "rb") as f:
        model = pickle.load(f)


def run(raw_data):
    rows = json.loads(raw_data)["data"]
    return {"predictions": model.predict(rows).tolist()}
"#;

/// Three requests for the deployed model.
const REQUESTS: [&str; 3] = [
    r#"{"data": [[0.5, -1.2, 0.3, 0.8, -0.4, 1.1, 0.0, -0.7]]}"#,
    r#"{"data": [[-2.0, 1.5, -0.3, 0.2, 1.4, -1.1, 0.6, 0.9]]}"#,
    r#"{"data": [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]]}"#,
];

const TRAIN: &str = r#"import os
import pickle

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from strata import Run

run = Run.get_context()
X, y = make_classification(n_samples=500, n_features=8, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = LogisticRegression(max_iter=200).fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
run.log("accuracy", accuracy)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pkl", "wb") as out:
    pickle.dump(model, out)
print(f"accuracy: {accuracy:.3f}")
"#;

/// Runs the walkthrough; a failing step is named and makes the command fail.
pub(crate) fn run(keep: bool) -> Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("strata-quickstart-")
        .tempdir()
        .context("Failed to create a temporary directory")?;
    let root = temp.path().to_path_buf();
    printer::out(format!("Strata quickstart in {}", root.display()));
    let mut steps = Steps::default();
    let project = root.join("project");

    let mut workspace = steps.run("Create an embedded workspace", || {
        let workspace = Workspace::init(&root)?;
        fs_err::create_dir_all(&project)?;
        fs_err::write(project.join("requirements.txt"), REQUIREMENTS)?;
        fs_err::write(project.join("train.py"), TRAIN)?;
        fs_err::write(project.join("score.py"), SCORE)?;
        Ok((
            format!(
                "{} (and a project with requirements.txt, train.py and score.py)",
                workspace.root().display()
            ),
            workspace,
        ))
    })?;

    let definition = steps.run("Define an environment from requirements.txt", || {
        let parsed = read_requirements_file(&project.join("requirements.txt"))?;
        let environment = Environment::from_pip_requirements("trainenv", parsed.value, None);
        Ok((
            "trainenv: python=3.11, pip, numpy, scikit-learn".to_string(),
            environment,
        ))
    })?;

    let first = steps.run("Register it", || {
        let registration =
            workspace.register_environment(definition.clone(), RegisterOptions::default())?;
        let record = &registration.record;
        Ok((
            format!(
                "trainenv:{} (spec hash {})",
                record.version,
                record.spec_hash.short()
            ),
            registration,
        ))
    })?;

    steps.run("Register it again, unchanged", || {
        let again =
            workspace.register_environment(definition.clone(), RegisterOptions::default())?;
        if again.created || again.record.version != first.record.version {
            return Err(anyhow!(
                "an unchanged definition made version {}",
                again.record.version
            ));
        }
        Ok((
            format!(
                "still trainenv:{} (same spec hash, no new version)",
                again.record.version
            ),
            (),
        ))
    })?;

    let second = steps.run("Add a pip package", || {
        let registration = workspace.update_environment("trainenv", None, |environment| {
            Ok(environment.add_pip_package("six==1.16.0")?)
        })?;
        Ok((
            format!("trainenv:{} with six==1.16.0", registration.record.version),
            registration,
        ))
    })?;

    steps.run("List environments and diff the versions", || {
        let environments = workspace.list_environments(false, false)?;
        let names: Vec<String> = environments
            .iter()
            .map(|e| format!("{}:{}", e.name, e.version))
            .collect();
        let diff = EnvironmentDiff::between(&first.record.environment, &second.record.environment);
        let text = render_diff_for_quickstart(&first.record, &second.record, &diff);
        Ok((format!("{}\n{}", names.join(", "), indent(&text)), ()))
    })?;

    steps.run("Download version 1 in Azure ML's format", || {
        let out = root.join("downloaded");
        let record = workspace.get_environment("trainenv", Some(&EnvironmentVersion::number(1)))?;
        write_v1_dir(&record.environment, &out, false)?;
        Ok((
            format!(
                "{} (azureml_environment.json, conda_dependencies.yml)",
                out.display()
            ),
            (),
        ))
    })?;

    let reporter = strata_build::SilentReporter;
    let built = steps.run(
        "Build trainenv:2 (lock with uv, install into the cache)",
        || {
            let built = build::ensure_built(
                &mut workspace,
                "trainenv",
                Some(&EnvironmentVersion::number(2)),
                &reporter,
            )?;
            let packages: Vec<String> = built
                .lock
                .lock
                .pypi
                .iter()
                .map(|p| format!("{}=={}", p.name, p.version))
                .collect();
            let python = built
                .lock
                .lock
                .python
                .as_ref()
                .map_or_else(String::new, |p| p.version.clone());
            let what = if built.prefix.reused {
                "reused"
            } else {
                "built"
            };
            Ok((
                format!(
                    "{what} {} (python {python}; {})",
                    built.prefix.path.display(),
                    packages.join(", ")
                ),
                built,
            ))
        },
    )?;

    steps.run("Build it again", || {
        let again = build::ensure_built(
            &mut workspace,
            "trainenv",
            Some(&EnvironmentVersion::number(2)),
            &reporter,
        )?;
        if again.prefix.path != built.prefix.path || !again.prefix.reused {
            return Err(anyhow!(
                "the second build did not reuse {}",
                built.prefix.path.display()
            ));
        }
        Ok(("cache hit, same prefix".to_string(), ()))
    })?;

    let run_record = steps.run(
        "Run train.py as a tracked run of experiment `quickstart`",
        || {
            let files = vec![
                std::path::PathBuf::from("requirements.txt"),
                std::path::PathBuf::from("train.py"),
            ];
            let record = runs::create_run(
                &mut workspace,
                "quickstart",
                ("trainenv".to_string(), EnvironmentVersion::number(2)),
                &project,
                &files,
                ("train.py".to_string(), Vec::new()),
                "local",
            )?;
            let outcome = runs::supervise(
                &mut workspace,
                &record.id,
                Arc::new(strata_run::NoSink),
                Duration::from_secs(10),
            )?;
            let finished = workspace.get_run(&record.id)?;
            if outcome.status != COMPLETED {
                let log = std::fs::read_to_string(
                    std::path::Path::new(&finished.run_dir).join(strata_run::STD_LOG),
                )
                .unwrap_or_default();
                return Err(anyhow!(
                    "the run ended {}: {}\n{log}",
                    outcome.status,
                    outcome.error.unwrap_or_default()
                ));
            }
            let accuracy = workspace
                .run_metrics(&record.id)?
                .into_iter()
                .find(|m| m.name == "accuracy")
                .map(|m| m.value.to_string())
                .unwrap_or_default();
            Ok((
                format!(
                    "{} Completed, accuracy={accuracy}, outputs/model.pkl",
                    record.id
                ),
                finished,
            ))
        },
    )?;

    steps.run("Register the model from the run's outputs", || {
        let opened = super::Context::for_workspace(project.clone(), root.join(".strata")).open()?;
        let registered = model::register_with(
            &opened,
            "quickstart-model",
            strata_core::ModelSource::Run {
                id: &run_record.id,
                path: "outputs/model.pkl",
            },
            None,
        )?
        .record;
        Ok((
            format!(
                "quickstart-model:{} from run {} in trainenv:{} (lock {})",
                registered.version,
                run_record.id,
                super::model::version_text(registered.env_version.as_ref()),
                registered
                    .lock_hash
                    .as_deref()
                    .map(strata_build::short)
                    .unwrap_or_default()
            ),
            (),
        ))
    })?;

    drop(workspace);
    let context = super::Context::for_workspace(project.clone(), root.join(".strata"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let service = steps.run(
        "Deploy the model with score.py in the same environment",
        || {
            let options = crate::cli::ServingOptions {
                models: vec!["quickstart-model:1".to_string()],
                entry_script: project.join("score.py"),
                source_dir: None,
                env: None,
                port,
                host: std::net::IpAddr::from([127, 0, 0, 1]),
                advertise_host: None,
                workers: Some(1),
                cpu_cores: None,
                memory_gb: None,
                timeout_ms: None,
                worker_timeout: None,
                max_body_mb: 100,
                startup_timeout: 300,
                model_dir: None,
                cors_origins: None,
                health_port: None,
                no_server_version_header: false,
            };
            let (service, built) = serve::deploy_service(
                &context,
                "quickstart-svc",
                &options,
                &crate::cli::ContainerOptions::default(),
            )?;
            Ok((
                format!(
                    "{} serving quickstart-model:1 in {}:{}",
                    service.url(),
                    built.name,
                    built.version
                ),
                service,
            ))
        },
    )?;

    steps.run("Score three requests", || {
        let mut answers = Vec::new();
        for body in REQUESTS {
            let (status, answer) = post(port, body)?;
            if status != 200 {
                return Err(anyhow!("POST /score answered {status}: {answer}"));
            }
            answers.push(format!("      {body} -> {answer}"));
        }
        Ok((format!("\n{}", answers.join("\n")), ()))
    })?;

    let workspace = Workspace::open(&root.join(".strata"))?;
    steps.run("Show the run's environment and the service's lineage", || {
        let record = workspace.get_environment(&run_record.env_name, Some(&run_record.env_version))?;
        let pip: Vec<String> = record.environment.conda().into_iter().flat_map(|c| c.pip_entries()).map(str::to_string).collect();
        let model = workspace.get_model("quickstart-model", Some(1))?;
        Ok((
            format!(
                "run {} used {}:{} (pip: {}); quickstart-svc serves quickstart-model:1 <- run {} (experiment {}) in {}:{}, lock {}",
                run_record.id,
                record.name,
                record.version,
                pip.join(", "),
                model.run_id.unwrap_or_default(),
                model.experiment.unwrap_or_default(),
                service.env_name,
                service.env_version,
                service.lock_hash.as_deref().map(strata_build::short).unwrap_or_default()
            ),
            (),
        ))
    })?;
    drop(workspace);

    if !keep {
        steps.run("Delete the service", || {
            super::service::delete_service(&context, "quickstart-svc")?;
            Ok((format!("port {port} is free"), ()))
        })?;
    }

    if keep {
        let kept = temp.keep();
        printer::out(format!(
            "Done. Everything is kept in {}; the service still runs at {}. Try `strata --workspace {}/.strata service list` and `strata --workspace {}/.strata service delete quickstart-svc`",
            kept.display(),
            service.url(),
            kept.display(),
            kept.display()
        ));
    } else {
        printer::out(
            "Done. The temporary workspace was removed (pass `--keep` to keep it); built environments stay in the cache (`strata cache list`).",
        );
    }
    Ok(())
}

#[derive(Default)]
struct Steps {
    number: usize,
}

impl Steps {
    fn run<T>(&mut self, title: &str, step: impl FnOnce() -> Result<(String, T)>) -> Result<T> {
        self.number += 1;
        let started = Instant::now();
        match step() {
            Ok((detail, value)) => {
                let millis = started.elapsed().as_secs_f64() * 1000.0;
                printer::out(format!(
                    "{:>2}. {title} ({millis:.0} ms): {detail}",
                    self.number
                ));
                Ok(value)
            }
            Err(error) => {
                Err(error.context(format!("Quickstart step {} failed: {title}", self.number)))
            }
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("      {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One POST /score on a fresh connection.
fn post(port: u16, body: &str) -> Result<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "POST /score HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
