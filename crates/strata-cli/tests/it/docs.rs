//! Every command shown in the documentation runs: each `$ ` line of the `console` blocks of a
//! page, top to bottom, in one fresh directory, must succeed. Blocks marked
//! `console containers` need podman, skopeo, bubblewrap and mmdebstrap, and run when those are
//! installed.

use std::path::Path;
use std::process::Command;

fn commands(markdown: &str, containers: bool) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_console = false;
    let mut in_block = false;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_block = !in_block;
            let info = info.trim();
            in_console =
                in_block && (info == "console" || (containers && info == "console containers"));
            continue;
        }
        if in_console && let Some(command) = trimmed.strip_prefix("$ ") {
            commands.push(command.to_string());
        }
    }
    commands
}

#[test]
fn documented_commands_run() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let binary_dir = Path::new(env!("CARGO_BIN_EXE_strata"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        binary_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut pages: Vec<_> = fs_err::read_dir(&docs)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    let containers = ["podman", "skopeo", "bwrap", "mmdebstrap"]
        .iter()
        .all(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let mut ran = 0;
    for page in pages {
        let text = fs_err::read_to_string(&page).unwrap();
        let temp = tempfile::tempdir().unwrap();
        for command in commands(&text, containers) {
            let output = Command::new("bash")
                .arg("-c")
                .arg(&command)
                .current_dir(temp.path())
                .env("PATH", &path)
                .env_remove("STRATA_WORKSPACE")
                .env("STRATA_CACHE", crate::common::shared_cache())
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}: `{command}` failed:\n{}\n{}",
                page.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran > 20, "expected the docs to show commands, found {ran}");
}
