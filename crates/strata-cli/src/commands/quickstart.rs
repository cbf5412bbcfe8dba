//! `strata quickstart`: the main workflow, step by step, in a temporary workspace
//! ([`strata_core::quickstart`]), each step printed as it finishes.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use strata_core::quickstart::{
    self, ADDED_PACKAGE, ENVIRONMENT, MODEL, Quickstart, QuickstartReporter, SERVICE, StepOutcome,
};

use crate::commands::env::render_diff_for_quickstart;
use crate::printer;

/// Runs the walkthrough; a failing step is named and makes the command fail.
pub(crate) fn run(keep: bool) -> Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("strata-quickstart-")
        .tempdir()
        .context("Failed to create a temporary directory")?;
    printer::out(format!("Strata quickstart in {}", temp.path().display()));
    let exe = std::env::current_exe()?;
    let launch = |root: &Path, service: &str| {
        let mut command = std::process::Command::new(&exe);
        command.arg("--workspace").arg(root).args([
            "serve",
            "--service",
            service,
            "--max-body-mb",
            "100",
        ]);
        command
    };
    let done = quickstart::quickstart(
        &Quickstart {
            root: temp.path(),
            keep_service: keep,
            launch: &launch,
            progress: &strata_build::SilentReporter,
        },
        &Printed,
    )?;
    if keep {
        let kept = temp.keep();
        printer::out(format!(
            "Done. Everything is kept in {}; the service still runs at {}. Try `strata --workspace {ws} service list` and `strata --workspace {ws} service delete {SERVICE}`",
            kept.display(),
            done.service.url(),
            ws = done.workspace.display(),
        ));
    } else {
        printer::out(
            "Done. The temporary workspace was removed (pass `--keep` to keep it); built environments stay in the cache (`strata cache list`).",
        );
    }
    Ok(())
}

/// Each finished step as a numbered line with its time and what it made.
struct Printed;

impl QuickstartReporter for Printed {
    fn step(&self, number: usize, title: &str, elapsed: Duration, outcome: &StepOutcome<'_>) {
        let millis = elapsed.as_secs_f64() * 1000.0;
        printer::out(format!(
            "{number:>2}. {title} ({millis:.0} ms): {}",
            detail(outcome)
        ));
    }
}

fn detail(outcome: &StepOutcome<'_>) -> String {
    match outcome {
        StepOutcome::WorkspaceCreated { workspace } => format!(
            "{} (and a project with requirements.txt, train.py and score.py)",
            workspace.display()
        ),
        StepOutcome::Defined { .. } => {
            format!("{ENVIRONMENT}: python=3.11, pip, numpy, scikit-learn")
        }
        StepOutcome::Registered { record } => format!(
            "{}:{} (spec hash {})",
            record.name,
            record.version,
            record.spec_hash.short()
        ),
        StepOutcome::Unchanged { record } => format!(
            "still {}:{} (same spec hash, no new version)",
            record.name, record.version
        ),
        StepOutcome::PackageAdded { record } => {
            format!("{}:{} with {ADDED_PACKAGE}", record.name, record.version)
        }
        StepOutcome::Listed {
            environments,
            old,
            new,
            diff,
        } => {
            let names: Vec<String> = environments
                .iter()
                .map(|e| format!("{}:{}", e.name, e.version))
                .collect();
            let text = render_diff_for_quickstart(old, new, diff);
            format!("{}\n{}", names.join(", "), indent(&text))
        }
        StepOutcome::Downloaded { directory } => format!(
            "{} (azureml_environment.json, conda_dependencies.yml)",
            directory.display()
        ),
        StepOutcome::Built { built } => {
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
            format!(
                "{} {} (python {python}; {})",
                if built.prefix.reused {
                    "reused"
                } else {
                    "built"
                },
                built.prefix.path.display(),
                packages.join(", ")
            )
        }
        StepOutcome::CacheHit { .. } => "cache hit, same prefix".to_string(),
        StepOutcome::Ran { run, accuracy } => format!(
            "{} {}, accuracy={}, outputs/model.pkl",
            run.id,
            run.status,
            accuracy.map(ToString::to_string).unwrap_or_default()
        ),
        StepOutcome::ModelRegistered { model } => format!(
            "{}:{} from run {} in {}:{} (lock {})",
            model.name,
            model.version,
            model.run_id.as_deref().unwrap_or_default(),
            model.env_name.as_deref().unwrap_or_default(),
            super::model::version_text(model.env_version.as_ref()),
            model
                .lock_hash
                .as_deref()
                .map(strata_build::short)
                .unwrap_or_default()
        ),
        StepOutcome::Deployed {
            service,
            environment,
        } => format!(
            "{} serving {MODEL}:{} in {}:{}",
            service.url(),
            service.models.first().map_or(0, |m| m.version),
            environment.name,
            environment.version
        ),
        StepOutcome::Scored { answers } => {
            let lines: Vec<String> = answers
                .iter()
                .map(|(body, answer)| format!("      {body} -> {answer}"))
                .collect();
            format!("\n{}", lines.join("\n"))
        }
        StepOutcome::Lineage {
            run,
            environment,
            model,
            service,
        } => {
            let pip: Vec<&str> = environment
                .environment
                .conda()
                .into_iter()
                .flat_map(|c| c.pip_entries())
                .collect();
            format!(
                "run {} used {}:{} (pip: {}); {} serves {}:{} <- run {} (experiment {}) in {}:{}, lock {}",
                run.id,
                environment.name,
                environment.version,
                pip.join(", "),
                service.name,
                model.name,
                model.version,
                model.run_id.as_deref().unwrap_or_default(),
                model.experiment.as_deref().unwrap_or_default(),
                service.env_name,
                service.env_version,
                service
                    .lock_hash
                    .as_deref()
                    .map(strata_build::short)
                    .unwrap_or_default()
            )
        }
        StepOutcome::ServiceDeleted { port } => format!("port {port} is free"),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("      {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
