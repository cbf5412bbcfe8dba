//! Interactive runs (`Experiment.start_logging`) on a server workspace: made, logged to and
//! given files from one machine, seen from another while they run and once they ended.

use std::process::Stdio;

use serde_json::Value;

use super::Team;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[test]
fn an_interactive_run_is_recorded_on_the_server_and_seen_from_another_machine() {
    let Some(team) = Team::on_s3("interactive") else {
        return;
    };
    let created = json(&team.ok(
        &team.alice,
        "alice",
        &["runs", "create", "--experiment", "notebook", "--json"],
    ));
    let id = created["run"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["run"]["status"], "Running", "{created}");
    assert_eq!(created["run"]["target"], "interactive", "{created}");

    team.ok(&team.alice, "alice", &["runs", "log", &id, "alpha", "0.03"]);
    team.ok(&team.alice, "alice", &["runs", "log", &id, "alpha", "0.05"]);
    team.ok(
        &team.alice,
        "alice",
        &["runs", "log", &id, "curve", "[1, 2]", "--list"],
    );
    team.ok(
        &team.alice,
        "alice",
        &["runs", "log", &id, "team", "ml", "--tag"],
    );
    let mut batch = team
        .as_user(&team.alice, "alice")
        .args(["runs", "log", &id, "--jsonl", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        batch.stdin.as_mut().unwrap(),
        b"{\"kind\":\"scalar\",\"name\":\"mse\",\"value\":3.5,\"time\":1}\n{\"kind\":\"scalar\",\"name\":\"mse\",\"value\":2.5,\"time\":2}\n{\"kind\":\"tag\",\"name\":\"best\",\"value\":null,\"time\":2}\n",
    )
    .unwrap();
    assert!(batch.wait().unwrap().success());

    let model = team.context.write("model.pkl", "weights");
    let model = model.to_str().unwrap();
    team.ok(
        &team.alice,
        "alice",
        &["runs", "upload", &id, "outputs/model.pkl", model],
    );
    let log = team.context.write("train.log", "epoch 1\n");
    team.ok(
        &team.alice,
        "alice",
        &[
            "runs",
            "upload",
            &id,
            "logs/train.log",
            log.to_str().unwrap(),
        ],
    );

    // Bob, on another machine, sees the running run and its uploads.
    let running = json(&team.ok(&team.bob, "bob", &["runs", "files", &id, "--json"]));
    assert_eq!(running["status"], "Running", "{running}");
    let paths: Vec<&str> = running["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["logs/train.log", "outputs/model.pkl"], "{running}");

    let outputs = team.context.path().join("outputs");
    team.context.write("outputs/extra.txt", "more");
    let completed = json(&team.ok(
        &team.alice,
        "alice",
        &[
            "runs",
            "complete",
            &id,
            "--outputs",
            outputs.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(completed["run"]["status"], "Completed", "{completed}");
    assert!(completed["run"]["finishedAt"].is_string(), "{completed}");

    let runs = json(&team.ok(
        &team.bob,
        "bob",
        &["runs", "list", "--experiment", "notebook", "--json"],
    ));
    assert_eq!(runs[0]["id"], id.as_str(), "{runs}");
    assert_eq!(runs[0]["status"], "Completed", "{runs}");
    let show = json(&team.ok(&team.bob, "bob", &["runs", "show", &id, "--json"]));
    let metrics: Vec<(&str, &Value)> = show["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), &m["value"]))
        .collect();
    assert_eq!(
        metrics,
        [
            ("alpha", &Value::from(0.03)),
            ("alpha", &Value::from(0.05)),
            ("curve", &serde_json::json!([1, 2])),
            ("mse", &Value::from(3.5)),
            ("mse", &Value::from(2.5)),
        ],
        "{show}"
    );
    assert_eq!(
        show["tags"],
        serde_json::json!({"best": null, "team": "ml"}),
        "{show}"
    );
    let files = json(&team.ok(&team.bob, "bob", &["runs", "files", &id, "--json"]));
    assert_eq!(
        files["files"],
        serde_json::json!([
            {"path": "logs/train.log", "bytes": 8},
            {"path": "outputs/extra.txt", "bytes": 4},
            {"path": "outputs/model.pkl", "bytes": 7},
        ]),
        "{files}"
    );
    let got = team.context.path().join("got.pkl");
    let written = json(&team.ok(
        &team.bob,
        "bob",
        &[
            "runs",
            "file",
            &id,
            "outputs/model.pkl",
            "-o",
            got.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(written["bytes"], 7, "{written}");
    assert_eq!(fs_err::read_to_string(&got).unwrap(), "weights");
    let downloaded = team.context.path().join("downloaded");
    team.ok(
        &team.bob,
        "bob",
        &["runs", "download", &id, "-d", downloaded.to_str().unwrap()],
    );
    assert_eq!(
        fs_err::read_to_string(downloaded.join("outputs/model.pkl")).unwrap(),
        "weights"
    );
    assert_eq!(
        fs_err::read_to_string(downloaded.join("logs/train.log")).unwrap(),
        "epoch 1\n"
    );

    // A model registers from the run's uploaded outputs, on the server.
    let registered = json(&team.ok(
        &team.alice,
        "alice",
        &[
            "model",
            "register",
            "--name",
            "notebook-model",
            "--run",
            &id,
            "--path",
            "outputs/model.pkl",
            "--json",
        ],
    ));
    assert_eq!(registered["runId"], id.as_str(), "{registered}");
}

#[test]
fn interactive_runs_on_the_server_refuse_clearly() {
    let Some(team) = Team::new("interactive_refusals") else {
        return;
    };
    let unknown = team.run(&team.alice, "alice", &["runs", "log", "nope", "a", "1"]);
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(unknown.stderr.contains("`nope`"), "{unknown}");

    let id = team
        .ok(&team.alice, "alice", &["runs", "create"])
        .trim()
        .to_string();
    let file = team.context.write("model.pkl", "weights");
    let file = file.to_str().unwrap();
    let outside = team.run(
        &team.alice,
        "alice",
        &["runs", "upload", &id, "snapshot/model.pkl", file],
    );
    insta::assert_snapshot!(outside, @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `snapshot/model.pkl` is not a file name in a run: use `outputs/...` or `logs/...`
    hint: Only a run's outputs/ and logs/ are stored, e.g. `outputs/model.pkl`
    ");
    let reader = team.run(
        &team.bob,
        "bob",
        &["runs", "upload", &id, "outputs/model.pkl", file],
    );
    assert_eq!(reader.code, 1, "a reader uploads nothing: {reader}");

    team.ok(
        &team.alice,
        "alice",
        &[
            "runs", "complete", &id, "--status", "Failed", "--error", "boom",
        ],
    );
    let late = team.run(&team.alice, "alice", &["runs", "log", &id, "alpha", "0.07"]);
    assert_eq!(late.code, 1, "{late}");
    assert_eq!(
        late.stderr.trim().replace(&id, "[RUN]"),
        "error: Run `[RUN]` has ended (Failed); it cannot log metrics any more"
    );
    let late_file = team.run(
        &team.alice,
        "alice",
        &["runs", "upload", &id, "outputs/model.pkl", file],
    );
    assert!(
        late_file.stderr.contains("it cannot take files any more"),
        "{late_file}"
    );
    let again = team.run(&team.alice, "alice", &["runs", "complete", &id]);
    assert!(again.stderr.contains("it cannot end again"), "{again}");
    team.ok(
        &team.alice,
        "alice",
        &["runs", "log", &id, "reviewed", "--tag"],
    );
    let show = json(&team.ok(&team.bob, "bob", &["runs", "show", &id, "--json"]));
    assert_eq!(show["run"]["status"], "Failed", "{show}");
    assert_eq!(show["run"]["error"], "boom", "{show}");
    assert_eq!(
        show["tags"],
        serde_json::json!({"reviewed": null}),
        "{show}"
    );
}
