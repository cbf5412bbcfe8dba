//! `strata quickstart`: the main workflow, step by step, in a temporary workspace.

use std::time::Instant;

use anyhow::{Context as _, Result, anyhow};
use strata_spec::{Environment, EnvironmentDiff, read_v1_dir, write_v1_dir};
use strata_store::{RegisterOptions, Workspace};

use crate::commands::env::render_diff_for_quickstart;
use crate::printer;

/// Runs the walkthrough; a failing step is named and makes the command fail.
pub(crate) fn run(keep: bool) -> Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("strata-quickstart-")
        .tempdir()
        .context("Failed to create a temporary directory")?;
    let root = temp.path().to_path_buf();
    printer::out(format!("Strata quickstart in {}", root.display()));
    let mut steps = Steps::default();

    let mut workspace = steps.run("Create an embedded workspace", || {
        let workspace = Workspace::init(&root)?;
        Ok((
            format!("workspace at {}", workspace.root().display()),
            workspace,
        ))
    })?;

    let env_dir = root.join("myenv");
    steps.run(
        "Scaffold an environment directory (Azure ML format)",
        || {
            write_v1_dir(&Environment::scaffold("myenv"), &env_dir, false)?;
            Ok((
                format!(
                    "{} with azureml_environment.json + conda_dependencies.yml",
                    env_dir.display()
                ),
                (),
            ))
        },
    )?;

    let definition = read_v1_dir(&env_dir)?.value;
    let first = steps.run("Register it", || {
        let registration =
            workspace.register_environment(definition.clone(), RegisterOptions::default())?;
        let record = &registration.record;
        Ok((
            format!(
                "myenv:{} (spec hash {})",
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
                "still myenv:{} (same spec hash, no new version)",
                again.record.version
            ),
            (),
        ))
    })?;

    let second = steps.run("Add a pip package", || {
        let registration = workspace.update_environment("myenv", None, |environment| {
            Ok(environment.add_pip_package("six==1.16.0")?)
        })?;
        Ok((
            format!("myenv:{} with six==1.16.0", registration.record.version),
            registration,
        ))
    })?;

    steps.run("List environments", || {
        let environments = workspace.list_environments(false, false)?;
        let names: Vec<String> = environments
            .iter()
            .map(|e| format!("{}:{}", e.name, e.version))
            .collect();
        Ok((names.join(", "), ()))
    })?;

    steps.run("Diff the two versions", || {
        let diff = EnvironmentDiff::between(&first.record.environment, &second.record.environment);
        let text = render_diff_for_quickstart(&first.record, &second.record, &diff);
        Ok((format!("\n{}", indent(&text)), ()))
    })?;

    let out_dir = root.join("downloaded");
    steps.run("Download version 1 in Azure ML's format", || {
        let record = workspace.get_environment("myenv", Some(1))?;
        write_v1_dir(&record.environment, &out_dir, false)?;
        let files: Vec<String> = fs_err::read_dir(&out_dir)?
            .filter_map(|entry| {
                entry
                    .ok()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
            })
            .collect();
        Ok((
            format!("{} ({})", out_dir.display(), sorted(files).join(", ")),
            (),
        ))
    })?;

    let reporter = strata_build::SilentReporter;
    let built = steps.run(
        "Build version 2 (lock with uv, install into the cache)",
        || {
            let built = super::build::ensure_built(&mut workspace, "myenv", Some(2), &reporter)?;
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
        let again = super::build::ensure_built(&mut workspace, "myenv", Some(2), &reporter)?;
        if again.prefix.path != built.prefix.path || !again.prefix.reused {
            return Err(anyhow!(
                "the second build did not reuse {}",
                built.prefix.path.display()
            ));
        }
        Ok(("cache hit, same prefix".to_string(), ()))
    })?;

    steps.run("Run Python in it", || {
        let output = std::process::Command::new(&built.prefix.python)
            .args(["-c", "import six, sys; print(f'six {six.__version__} on Python {sys.version.split()[0]}')"])
            .output()
            .context("Failed to start the environment's Python")?;
        if !output.status.success() {
            return Err(anyhow!("python exited with {}: {}", output.status, String::from_utf8_lossy(&output.stderr)));
        }
        Ok((String::from_utf8_lossy(&output.stdout).trim().to_string(), ()))
    })?;

    if keep {
        let kept = temp.keep();
        printer::out(format!(
            "Done. Everything is kept in {}; try `strata --workspace {}/.strata env list` (built environments stay in the cache: `strata cache list`)",
            kept.display(),
            kept.display()
        ));
    } else {
        printer::out("Done. The temporary workspace was removed (pass `--keep` to keep it).");
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

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}
