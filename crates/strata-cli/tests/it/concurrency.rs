//! Concurrent commands on one workspace, as real processes.

use std::process::Child;

use crate::common::TestContext;

fn spawn_all(context: &TestContext, args: &[Vec<String>]) -> Vec<std::process::Output> {
    let children: Vec<Child> = args
        .iter()
        .map(|args| {
            context
                .command()
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn strata")
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().expect("wait"))
        .collect()
}

#[test]
fn eight_processes_registering_one_new_definition_make_one_version() {
    let context = TestContext::new();
    context.write("requirements.txt", "six==1.16.0\n");
    let args: Vec<Vec<String>> = (0..8)
        .map(|_| {
            [
                "env",
                "register",
                "--name",
                "same",
                "--requirements",
                "requirements.txt",
                "--json",
            ]
            .map(String::from)
            .to_vec()
        })
        .collect();
    let outputs = spawn_all(&context, &args);
    let mut created = 0;
    for output in &outputs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(value["version"], 1);
        if value["created"] == true {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    let list = context.json(&["env", "list", "--all-versions", "--json"]);
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "same")
            .count(),
        1
    );
}

#[test]
fn eight_processes_registering_different_definitions_make_eight_versions() {
    let context = TestContext::new();
    let args: Vec<Vec<String>> = (0..8)
        .map(|index| {
            let file = format!("requirements{index}.txt");
            context.write(&file, &format!("six==1.{index}.0\n"));
            [
                "env",
                "register",
                "--name",
                "many",
                "--requirements",
                &file,
                "--json",
            ]
            .map(String::from)
            .to_vec()
        })
        .collect();
    let outputs = spawn_all(&context, &args);
    let mut versions: Vec<u64> = outputs
        .iter()
        .map(|output| {
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            value["version"].as_u64().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
}

#[test]
fn concurrent_package_additions_lose_no_update() {
    let context = TestContext::new();
    context.ok(&["env", "scaffold", "-n", "shared", "-d", "shared"]);
    context.ok(&["env", "register", "-d", "shared"]);
    let args: Vec<Vec<String>> = (0..6)
        .map(|index| {
            [
                "env",
                "add-package",
                "shared",
                &format!("pkg{index}"),
                "--pip",
            ]
            .map(String::from)
            .to_vec()
        })
        .collect();
    for output in spawn_all(&context, &args) {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let list = context.json(&["env", "list", "--all-versions", "--json"]);
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "shared")
            .count(),
        7
    );
    let latest = context.json(&["env", "show", "shared", "--json"]);
    let pip = latest["definition"]["python"]["condaDependencies"]["dependencies"][2]["pip"]
        .as_array()
        .unwrap()
        .clone();
    let mut names: Vec<&str> = pip.iter().map(|p| p.as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["pkg0", "pkg1", "pkg2", "pkg3", "pkg4", "pkg5"],
        "every addition survives"
    );
}
