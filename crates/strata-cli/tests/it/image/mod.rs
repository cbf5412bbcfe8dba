//! Container images and containers, through the binary. These need podman, skopeo, bubblewrap
//! and mmdebstrap (`scripts/setup-containers`); without them each test says why it was skipped.
//! `scripts/test` gives podman a private configuration and image store, and starts a registry
//! on loopback (`STRATA_TEST_REGISTRY`).

#![expect(clippy::print_stderr, reason = "skipped tests say why")]

use std::path::Path;
use std::process::Command;

use crate::common::{TestContext, test_data};
use crate::serve::{free_port, request};

mod builds;
mod containers;
mod server;
mod store;

const TOOLS: &[&str] = &["podman", "skopeo", "bwrap", "mmdebstrap"];

/// The missing tools, printed; the caller returns early when there are any.
fn skip_without_tools(test: &str) -> bool {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(true)
        })
        .collect();
    if missing.is_empty() {
        return false;
    }
    eprintln!(
        "skipped {test}: {} not installed (scripts/setup-containers installs them)",
        missing.join(", ")
    );
    true
}

fn register_env(context: &TestContext, name: &str, requirements: &str) {
    context.write(&format!("{name}.txt"), requirements);
    context.ok(&[
        "env",
        "register",
        "--name",
        name,
        "--requirements",
        &format!("{name}.txt"),
    ]);
}

/// An Azure ML environment directory named after the definition (its
/// `azureml_environment.json` plus `files`), registered.
fn register_dir(context: &TestContext, definition: serde_json::Value, files: &[(&str, &str)]) {
    let name = definition["name"].as_str().unwrap().to_string();
    let dir = context.path().join(&name);
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join("azureml_environment.json"), definition.to_string()).unwrap();
    for (file, content) in files {
        fs_err::write(dir.join(file), content).unwrap();
    }
    context.ok(&["env", "register", "-d", &name]);
}

fn image_json(context: &TestContext, command: &mut Command) -> serde_json::Value {
    let output = context.output(command);
    assert_eq!(output.code, 0, "{output}");
    serde_json::from_str(&output.stdout).expect("JSON")
}

/// The Debian base (made in the shared cache when missing) exported to `base.tar` in the
/// test's directory.
fn debian_base_archive(context: &TestContext) -> std::path::PathBuf {
    context.ok(&["image", "base", "debian-python"]);
    let store = crate::common::shared_cache().join("images/oci");
    let archive = context.path().join("base.tar");
    let copy = Command::new("skopeo")
        .arg("copy")
        .arg(format!(
            "oci:{}:strata/base/debian-python:bookworm",
            store.display()
        ))
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(copy.status.success(), "{copy:?}");
    archive
}

/// The same command started from a shell with another umask.
fn with_umask(command: &mut Command, umask: &str) -> Command {
    let mut wrapped = Command::new("sh");
    wrapped
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
