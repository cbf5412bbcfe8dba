//! Images and container runs of a server workspace, made and run on this machine from the
//! server's lock and reported to the server.

use super::*;

#[test]
fn an_image_of_a_server_workspaces_version_is_made_here_from_the_shared_lock() {
    if skip_without_tools(
        "an_image_of_a_server_workspaces_version_is_made_here_from_the_shared_lock",
    ) {
        return;
    }
    let Some(team) = crate::server::Team::new("image") else {
        return;
    };
    team.register("imaged", "requirements.txt", "six==1.16.0\n");
    let output = team.run(&team.alice, "alice", &["env", "image", "imaged", "--json"]);
    assert_eq!(output.code, 0, "{output}");
    let image: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(image["environment"], "imaged:1", "{image}");
    // Nobody had locked it: Alice's machine locked it and shared the lock the image has.
    let lock: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["env", "lock", "imaged", "--json"]))
            .unwrap();
    assert_eq!(lock["lockHash"], image["lockHash"], "{lock}");
    let listed = team.ok(&team.alice, "alice", &["image", "list"]);
    assert!(listed.contains("imaged:1"), "{listed}");
    let again = team.run(
        &team.alice,
        "alice",
        &["env", "image", "imaged:1", "--json"],
    );
    let again: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(
        (&again["reused"], &again["digest"]),
        (&serde_json::json!(true), &image["digest"]),
        "{again}"
    );
}

#[test]
fn a_container_run_on_a_server_workspace_reports_there_and_is_canceled_from_another_machine() {
    if skip_without_tools(
        "a_container_run_on_a_server_workspace_reports_there_and_is_canceled_from_another_machine",
    ) {
        return;
    }
    let Some(team) = crate::server::Team::new("boxrun") else {
        return;
    };
    let shown = |id: &str| -> serde_json::Value {
        serde_json::from_str(&team.ok(&team.bob, "bob", &["runs", "show", id, "--json"])).unwrap()
    };
    team.register("boxed", "requirements.txt", "six==1.16.0\n");
    team.context.write(
        "src/train.py",
        "import os, sys, six\nfrom strata import Run\nrun = Run.get_context()\nrun.log('accuracy', 0.9)\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/model.txt', 'w').write('weights')\nprint('interpreter', sys.executable)\n",
    );
    let output = team.run(
        &team.alice,
        "alice",
        &[
            "run",
            "--target",
            "container",
            "--env",
            "boxed",
            "--source-dir",
            "src",
            "train.py",
        ],
    );
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output
            .stdout
            .contains("interpreter /opt/strata/env/bin/python"),
        "{output}"
    );

    // Bob, a reader on his own machine, sees what ran in the container on Alice's.
    let runs: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["runs", "list", "--json"])).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let run = shown(&id);
    assert_eq!(
        (&run["run"]["status"], &run["run"]["target"]),
        (
            &serde_json::json!("Completed"),
            &serde_json::json!("container")
        ),
        "{run}"
    );
    assert!(run["run"]["image"].is_string(), "{run}");
    assert_eq!(run["metrics"][0]["name"], "accuracy", "{run}");
    assert_eq!(run["outputs"][0]["path"], "outputs/model.txt", "{run}");
    let logs = team.ok(&team.bob, "bob", &["runs", "logs", &id]);
    assert!(
        logs.contains("interpreter /opt/strata/env/bin/python"),
        "{logs}"
    );

    // A detached container run, canceled from Alice's other machine: the container goes.
    team.context.write(
        "src/slow.py",
        "import time\nprint('started', flush=True)\ntime.sleep(300)\n",
    );
    let slow = team
        .ok(
            &team.alice,
            "alice",
            &[
                "run",
                "--target",
                "container",
                "--env",
                "boxed",
                "--detach",
                "--grace",
                "5",
                "--source-dir",
                "src",
                "slow.py",
            ],
        )
        .trim()
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !team
        .ok(&team.bob, "bob", &["runs", "logs", &slow])
        .contains("started")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the container run's log never reached the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    team.ok(&team.alice, "alice-laptop", &["runs", "cancel", &slow]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while shown(&slow)["run"]["status"] != "Canceled" {
        assert!(
            std::time::Instant::now() < deadline,
            "the container run did not stop: {}",
            shown(&slow)
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let containers = Command::new("podman")
            .args(["ps", "--all", "--format", "{{.Names}}"])
            .output()
            .unwrap();
        if !String::from_utf8_lossy(&containers.stdout).contains(&slow) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the container of {slow} is left"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
