//! The JSON interface the Python API drives: `schemaVersion` everywhere, interactive runs,
//! one run file, `run`/`deploy --json`, `reload --no-wait`, `add-wheel --exist-ok`.

use std::process::Stdio;

use serde_json::Value;

use crate::common::TestContext;
use crate::serve::{free_port, request};

/// `<experiment>_<seconds>_<8 hex>` becomes `[RUN]`.
fn redact_run_ids(text: &str, id: &str) -> String {
    text.replace(id, "[RUN]")
}

fn assert_versioned(value: &Value, what: &str) {
    match value {
        Value::Array(items) => {
            for item in items {
                assert_versioned(item, what);
            }
        }
        Value::Object(fields) => {
            assert_eq!(
                fields.keys().next().map(String::as_str),
                Some("schemaVersion"),
                "{what}: {value}"
            );
            assert_eq!(fields["schemaVersion"], 1, "{what}");
        }
        _ => panic!("{what} printed {value}, not an object or an array"),
    }
}

#[test]
fn every_json_output_starts_with_the_schema_version() {
    let context = TestContext::new();
    context.write("requirements.txt", "six==1.16.0\n");
    context.write("model/w.txt", "2");
    let commands: &[&[&str]] = &[
        &["env", "list", "--json"],
        &["env", "list", "--definitions", "--json"],
        &["env", "show", "Strata-Minimal", "--json"],
        &[
            "env",
            "register",
            "--name",
            "e",
            "--requirements",
            "requirements.txt",
            "--json",
        ],
        &[
            "env",
            "hash",
            "--requirements",
            "requirements.txt",
            "--json",
        ],
        &["env", "copy", "e", "f", "--json"],
        &[
            "model",
            "register",
            "--name",
            "m",
            "--path",
            "model/w.txt",
            "--json",
        ],
        &["model", "list", "--all-versions", "--json"],
        &["model", "show", "m:1", "--json"],
        &["runs", "create", "--experiment", "x", "--json"],
        &["runs", "list", "--json"],
        &["service", "list", "--json"],
        &["cache", "list", "--json"],
    ];
    for args in commands {
        assert_versioned(&context.json(args), &args.join(" "));
    }
}

#[test]
fn env_list_definitions_and_env_hash_give_the_definition() {
    let context = TestContext::new();
    context.write("requirements.txt", "six==1.16.0\n");
    let hash = context.json(&[
        "env",
        "hash",
        "--requirements",
        "requirements.txt",
        "--name",
        "h",
        "--json",
    ]);
    assert_eq!(hash["definition"]["name"], "h");
    insta::assert_snapshot!(
        serde_json::to_string_pretty(&hash["definition"]["python"]["condaDependencies"]).unwrap(),
        @r#"
    {
      "name": "project_environment",
      "dependencies": [
        "python=3.11",
        "pip",
        {
          "pip": [
            "six==1.16.0"
          ]
        }
      ]
    }
    "#
    );
    let list = context.json(&["env", "list", "--definitions", "--json"]);
    let minimal = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Strata-Minimal")
        .unwrap();
    assert_eq!(
        minimal["definition"],
        context.json(&["env", "show", "Strata-Minimal", "--json"])["definition"]
    );
    let output = context.run(&["env", "list", "--definitions"]);
    assert_eq!(output.code, 1, "--definitions needs --json: {output}");
}

#[test]
fn an_interactive_run_is_created_logged_uploaded_and_completed() {
    let context = TestContext::new();
    let created = context.json(&["runs", "create", "--experiment", "notebook", "--json"]);
    let id = created["run"]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("notebook_"), "{id}");
    assert_eq!(created["run"]["status"], "Running");
    assert_eq!(created["run"]["target"], "interactive");

    context.ok(&["runs", "log", &id, "alpha", "0.03"]);
    context.ok(&["runs", "log", &id, "alpha", "0.05"]);
    context.ok(&["runs", "log", &id, "curve", "[1, 2]", "--list"]);
    context.ok(&["runs", "log", &id, "team", "ml", "--tag"]);
    let mut child = context
        .command()
        .args(["runs", "log", &id, "--jsonl", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"{\"kind\":\"scalar\",\"name\":\"mse\",\"value\":3.5,\"time\":1}\n{\"kind\":\"tag\",\"name\":\"best\",\"value\":null,\"time\":1}\n",
    )
    .unwrap();
    assert!(child.wait().unwrap().success());

    context.write("model.pkl", "weights");
    context.ok(&["runs", "upload", &id, "outputs/model.pkl", "model.pkl"]);
    let refused = context.run(&["runs", "upload", &id, "../escape.pkl", "model.pkl"]);
    insta::assert_snapshot!(refused, @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `../escape.pkl` is not a file name in a run: use `outputs/...` or `logs/...`
    hint: Only a run's outputs/ and logs/ are stored, e.g. `outputs/model.pkl`
    ");
    let running = context.json(&["runs", "files", &id, "--json"]);
    assert_eq!(running["files"][0]["path"], "outputs/model.pkl");

    context.write("outputs/extra.txt", "more");
    let completed = context.json(&["runs", "complete", &id, "--outputs", "outputs", "--json"]);
    assert_eq!(completed["run"]["status"], "Completed");
    let files = context.run(&["runs", "files", &id, "--json"]);
    insta::assert_snapshot!(redact_run_ids(&files.to_string(), &id), @r#"
    exit_code: 0
    ----- stdout -----
    {
      "schemaVersion": 1,
      "runId": "[RUN]",
      "status": "Completed",
      "files": [
        {
          "path": "outputs/extra.txt",
          "bytes": 4
        },
        {
          "path": "outputs/model.pkl",
          "bytes": 7
        }
      ]
    }
    ----- stderr -----
    "#);
    let show = context.json(&["runs", "show", &id, "--json"]);
    let metrics: Vec<(String, Value)> = show["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_string(), m["value"].clone()))
        .collect();
    assert_eq!(
        metrics,
        vec![
            ("alpha".to_string(), Value::from(0.03)),
            ("alpha".to_string(), Value::from(0.05)),
            ("curve".to_string(), serde_json::json!([1, 2])),
            ("mse".to_string(), Value::from(3.5)),
        ]
    );
    assert_eq!(
        show["tags"],
        serde_json::json!({"best": null, "team": "ml"})
    );

    let written = context.json(&[
        "runs",
        "file",
        &id,
        "outputs/model.pkl",
        "-o",
        "got.pkl",
        "--json",
    ]);
    assert_eq!(written["bytes"], 7);
    assert_eq!(context.read("got.pkl"), "weights");
    let missing = context.run(&["runs", "file", &id, "outputs/nope.pkl"]);
    insta::assert_snapshot!(redact_run_ids(&missing.to_string(), &id), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Run `[RUN]` has no file `outputs/nope.pkl`
    hint: List its files: `strata runs files [RUN]`
    ");

    // An ended run takes tags, but no more metrics and no second ending.
    context.ok(&["runs", "log", &id, "reviewed", "--tag"]);
    let late = context.run(&["runs", "log", &id, "alpha", "0.07"]);
    insta::assert_snapshot!(redact_run_ids(&late.to_string(), &id), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Run `[RUN]` has ended (Completed); it cannot log metrics any more
    ");
    assert_eq!(context.run(&["runs", "complete", &id]).code, 1);
    // A model registers from an interactive run's outputs, with its lineage.
    let model = context.json(&[
        "model",
        "register",
        "--name",
        "best",
        "--run",
        &id,
        "--path",
        "outputs/model.pkl",
        "--json",
    ]);
    assert_eq!(model["runId"], id);
    assert_eq!(
        model["envName"],
        Value::Null,
        "it ran in no environment version"
    );
}

#[test]
fn a_failed_interactive_run_keeps_its_error() {
    let context = TestContext::new();
    let id = context.ok(&["runs", "create"]).trim().to_string();
    let failed = context.json(&[
        "runs",
        "complete",
        &id,
        "--status",
        "Failed",
        "--error",
        "ValueError: boom",
        "--json",
    ]);
    assert_eq!(failed["run"]["status"], "Failed");
    assert_eq!(failed["run"]["error"], "ValueError: boom");
    let bad = context.run(&["runs", "complete", &id, "--status", "Done"]);
    assert_eq!(bad.code, 1, "{bad}");
}

#[test]
fn add_wheel_refuses_a_stored_name_unless_exist_ok() {
    let context = TestContext::new();
    context.write("dist/pkg-0.1-py3-none-any.whl", "first");
    let first = context.json(&[
        "env",
        "add-wheel",
        "dist/pkg-0.1-py3-none-any.whl",
        "--json",
    ]);
    assert_eq!(first["wheel"]["created"], true);
    let again = context.run(&["env", "add-wheel", "dist/pkg-0.1-py3-none-any.whl"]);
    let uri = first["wheel"]["uri"].as_str().unwrap();
    insta::assert_snapshot!(again.to_string().replace(uri, "[URI]"), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: A wheel named `pkg-0.1-py3-none-any.whl` is stored already ([URI])
    hint: Pass `--exist-ok` to accept it (`exist_ok=True` in Python)
    ");
    let same = context.json(&[
        "env",
        "add-wheel",
        "dist/pkg-0.1-py3-none-any.whl",
        "--exist-ok",
        "--json",
    ]);
    assert_eq!(same["wheel"]["uri"], first["wheel"]["uri"]);
    assert_eq!(same["wheel"]["created"], false);
}

const TRAIN: &str = r#"
import os
from strata import Run
Run.get_context().log("loss", 0.5)
print("on stdout")
os.makedirs("outputs", exist_ok=True)
open("outputs/w.txt", "w").write("2")
"#;

const SCORE: &str = r#"
from strata import Model
def init():
    global w
    w = float(open(Model.get_model_path("w")).read())
def run(raw):
    return {"w": w}
"#;

#[test]
fn run_and_deploy_print_json_and_reload_can_return_at_once() {
    let context = TestContext::new();
    context.write("src/train.py", TRAIN);
    // A foreground run's script output goes to stderr, so stdout is only the JSON.
    let output = context.run(&["run", "--json", "--source-dir", "src", "train.py"]);
    assert_eq!(output.code, 0, "{output}");
    let run: Value = serde_json::from_str(&output.stdout).expect("only JSON on stdout");
    assert_eq!(run["schemaVersion"], 1);
    assert_eq!(run["run"]["status"], "Completed");
    assert!(output.stderr.contains("on stdout"), "{output}");
    let detached = context.json(&[
        "run",
        "--detach",
        "--json",
        "--source-dir",
        "src",
        "--",
        "train.py",
        "--json",
    ]);
    assert_eq!(detached["run"]["arguments"], serde_json::json!(["--json"]));
    let id = detached["run"]["id"].as_str().unwrap();
    assert_eq!(context.run(&["runs", "wait", id]).code, 0);

    let run_id = run["run"]["id"].as_str().unwrap();
    context.ok(&[
        "model",
        "register",
        "--name",
        "w",
        "--run",
        run_id,
        "--path",
        "outputs/w.txt",
    ]);
    context.write("score.py", SCORE);
    let port = free_port().to_string();
    let deployed = context.json(&[
        "deploy",
        "wsvc",
        "--model",
        "w:1",
        "--entry-script",
        "score.py",
        "--env",
        "Strata-Minimal",
        "--port",
        &port,
        "--json",
    ]);
    assert_eq!(deployed["schemaVersion"], 1);
    assert_eq!(deployed["service"]["state"], "running");
    assert_eq!(deployed["url"], format!("http://127.0.0.1:{port}/score"));
    assert_eq!(
        deployed["environment"],
        serde_json::json!({"name": "Strata-Minimal", "version": 1})
    );
    let port: u16 = port.parse().unwrap();
    assert_eq!(
        request(port, "POST", "/score", "{}"),
        (200, r#"{"w": 2.0}"#.to_string())
    );

    let quick = context.run(&["service", "reload", "wsvc", "--no-wait"]);
    assert_eq!(quick.stdout.trim(), "Reloading wsvc", "{quick}");
    // It returned before the workers were replaced; they are, soon after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !context
        .ok(&["service", "logs", "wsvc"])
        .contains("reloaded: every worker")
    {
        assert!(std::time::Instant::now() < deadline, "no reload");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let waited = context.run(&["service", "reload", "wsvc", "--wait"]);
    assert_eq!(waited.stdout.trim(), "Reloaded wsvc", "{waited}");
    assert_eq!(context.run(&["service", "delete", "wsvc"]).code, 0);
}

#[test]
fn labels_name_one_version_and_move() {
    let context = TestContext::new();
    context.write("a.txt", "six==1.16.0\n");
    context.write("b.txt", "six==1.15.0\n");
    context.ok(&["env", "register", "--name", "l", "--requirements", "a.txt"]);
    context.ok(&["env", "register", "--name", "l", "--requirements", "b.txt"]);
    insta::assert_snapshot!(context.run(&["env", "label", "l:1", "production", "stable"]), @r"
    exit_code: 0
    ----- stdout -----
    Labelled l:1 production, stable
    ----- stderr -----
    ");
    let moved = context.json(&["env", "label", "l:2", "production", "--json"]);
    insta::assert_snapshot!(serde_json::to_string_pretty(&moved).unwrap(), @r#"
    {
      "schemaVersion": 1,
      "name": "l",
      "version": 2,
      "labels": [
        {
          "label": "production",
          "version": 2
        },
        {
          "label": "stable",
          "version": 1
        }
      ]
    }
    "#);
    assert_eq!(
        context.json(&["env", "show", "l", "--label", "stable", "--json"])["version"],
        1
    );
    assert_eq!(
        context.json(&["env", "show", "l", "--label", "production", "--json"])["version"],
        2
    );
    insta::assert_snapshot!(context.run(&["env", "show", "l", "--label", "nope"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Label `nope` of environment `l` not found
    ");
    insta::assert_snapshot!(context.run(&["env", "show", "l:1", "--label", "stable"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Give a version or a label, not both
    hint: strata env show l --label stable
    ");
    insta::assert_snapshot!(context.run(&["env", "label", "l", "x"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Say which version of `l` to label
    hint: strata env label l:VERSION x
    ");
    insta::assert_snapshot!(context.run(&["env", "label", "l:1", "bad/label"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid label `bad/label`: use letters, digits, `-`, `_` and `.`, starting with a letter or digit
    ");
}

#[test]
fn image_details_tell_where_a_version_is_built_without_building_it() {
    let context = TestContext::new();
    let before = context.json(&["env", "image-details", "Strata-Minimal", "--json"]);
    let built = context.json(&["env", "build", "Strata-Minimal", "--json"]);
    let after = context.json(&["env", "image-details", "Strata-Minimal", "--json"]);
    assert_eq!(after["built"], true);
    assert_eq!(
        after["pythonEnvironment"]["interpreterPath"],
        built["python"]
    );
    assert_eq!(
        after["pythonEnvironment"]["condaEnvironmentPath"],
        built["prefix"]
    );
    assert_eq!(after["lockHash"], built["lockHash"]);
    assert_eq!(after["imageExistsInRegistry"], false);
    // A fresh workspace has no lock of its own yet, whatever the shared cache holds.
    if before["lockHash"].is_null() {
        assert_eq!(before["built"], false);
        assert_eq!(before["pythonEnvironment"]["interpreterPath"], Value::Null);
    }
    let text = context.run(&["env", "image-details", "Strata-Minimal"]);
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("Image:") && l.ends_with("(none)")),
        "{text}"
    );
    assert_eq!(context.run(&["env", "image-details", "nosuch"]).code, 1);
}
