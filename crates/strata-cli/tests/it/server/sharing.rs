//! Teammates share a workspace through the server: registering, locking, running and
//! registering models as before, and a run followed and canceled from another machine.

use std::time::{Duration, Instant};

use super::{TRAIN, Team};

#[test]
fn teammates_share_a_workspace_through_the_server() {
    let Some(team) = Team::new("share") else {
        return;
    };
    let context = &team.context;
    context.write("src/train.py", TRAIN);
    context.ok(&["env", "scaffold", "-n", "trainenv", "-d", "envdir"]);

    // Alice (contributor) registers; registering again is the same version.
    let registered = team.ok(
        &team.alice,
        "alice",
        &["env", "register", "-d", "envdir", "--json"],
    );
    let registered: serde_json::Value = serde_json::from_str(&registered).unwrap();
    assert_eq!(registered["version"], 1, "{registered}");
    assert_eq!(registered["created"], true);
    let again = team.ok(
        &team.alice,
        "alice",
        &["env", "register", "-d", "envdir", "--json"],
    );
    assert!(again.contains("\"created\": false"), "{again}");

    // Bob (reader) sees it, and may not register.
    let list = team.ok(&team.bob, "bob", &["env", "list"]);
    assert!(list.contains("trainenv"), "{list}");
    let refused = team.run(&team.bob, "bob", &["env", "register", "-d", "envdir"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.to_lowercase().contains("not allowed"),
        "{refused}"
    );

    // Alice runs here; the run, its log, metrics, tags and outputs reach the server.
    let output = team.run(
        &team.alice,
        "alice",
        &[
            "run",
            "--env",
            "trainenv",
            "--source-dir",
            "src",
            "train.py",
            "--lr",
            "0.1",
        ],
    );
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output.stdout.contains("training ['--lr', '0.1']"),
        "{output}"
    );
    let runs: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["runs", "list", "--json"])).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let show: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["runs", "show", &id, "--json"])).unwrap();
    assert_eq!(show["run"]["status"], "Completed", "{show}");
    assert!(show["environment"]["lockHash"].is_string(), "{show}");
    let losses: Vec<f64> = show["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 3, "{show}");
    assert_eq!(show["tags"]["team"], "ml", "{show}");
    assert_eq!(show["outputs"][0]["path"], "outputs/model.txt", "{show}");
    let logs = team.ok(&team.bob, "bob", &["runs", "logs", &id]);
    assert!(logs.contains("training") && logs.contains("done"), "{logs}");

    // Alice registers a model from the run's outputs on the server; Bob sees its lineage and
    // may not register one.
    let registered = team.ok(
        &team.alice,
        "alice",
        &[
            "model",
            "register",
            "--name",
            "shared",
            "--run",
            &id,
            "--path",
            "outputs/model.txt",
            "--json",
        ],
    );
    let registered: serde_json::Value = serde_json::from_str(&registered).unwrap();
    assert_eq!(registered["version"], 1, "{registered}");
    assert_eq!(registered["runId"], id.as_str(), "{registered}");
    assert_eq!(registered["envName"], "trainenv", "{registered}");
    let model = team.ok(&team.bob, "bob", &["model", "show", "shared:1"]);
    assert!(model.contains("model.txt"), "{model}");
    let refused = team.run(
        &team.bob,
        "bob",
        &[
            "model",
            "register",
            "--name",
            "mine",
            "--run",
            &id,
            "--path",
            "outputs/model.txt",
        ],
    );
    assert_eq!(refused.code, 1, "{refused}");
    let outside = team.run(
        &team.alice,
        "alice",
        &[
            "model",
            "register",
            "--name",
            "x",
            "--run",
            &id,
            "--path",
            "logs/std_log.txt",
        ],
    );
    assert_eq!(outside.code, 1, "{outside}");
    assert!(outside.stderr.contains("outputs/model.txt"), "{outside}");

    // The lock Alice made is the one everybody builds from.
    let lock_hash = show["environment"]["lockHash"]
        .as_str()
        .unwrap()
        .to_string();
    let second = team.run(
        &team.alice,
        "carol-machine",
        &[
            "run",
            "--env",
            "trainenv:1",
            "--source-dir",
            "src",
            "train.py",
        ],
    );
    assert_eq!(second.code, 0, "{second}");
    let runs: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["runs", "list", "--json"])).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert_eq!(runs[0]["lockHash"], lock_hash.as_str(), "{runs}");
}

#[test]
fn a_detached_run_is_followed_from_another_machine_and_canceled_there() {
    let Some(team) = Team::new("follow") else {
        return;
    };
    let context = &team.context;
    context.write(
        "src/slow.py",
        "import time\nprint('started', flush=True)\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.1)\n",
    );
    context.ok(&["env", "scaffold", "-n", "trainenv", "-d", "envdir"]);
    team.ok(&team.alice, "alice", &["env", "register", "-d", "envdir"]);
    let id = team
        .ok(
            &team.alice,
            "alice",
            &[
                "run",
                "--detach",
                "--env",
                "trainenv",
                "--source-dir",
                "src",
                "slow.py",
            ],
        )
        .trim()
        .to_string();
    // Bob follows it live from his machine until it prints, then cancels it from there.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let logs = team.ok(&team.bob, "bob", &["runs", "logs", &id]);
        if logs.contains("tick 3") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no live log reached the server: {logs}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let refused = team.run(&team.bob, "bob", &["runs", "cancel", &id]);
    assert_eq!(refused.code, 1, "a reader may not cancel: {refused}");
    team.ok(&team.alice, "alice-laptop", &["runs", "cancel", &id]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let show: serde_json::Value =
            serde_json::from_str(&team.ok(&team.bob, "bob", &["runs", "show", &id, "--json"]))
                .unwrap();
        if show["run"]["status"] == "Canceled" {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not stop: {show}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let followed = team.ok(&team.bob, "bob", &["runs", "logs", &id, "--follow"]);
    assert!(followed.starts_with("started"), "{followed}");
}
