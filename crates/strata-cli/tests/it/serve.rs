//! Deployments through the CLI: a registered model behind the Rust server, in its environment.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestContext;

const SCORE: &str = r#"
import json, os
from strata import Model

def init():
    global prefix
    with open(Model.get_model_path("greeter")) as f:
        prefix = f.read().strip()
    print("init: model dir", os.environ["AZUREML_MODEL_DIR"])

def run(raw_data):
    print("scoring", raw_data)
    return {"answer": prefix + " " + json.loads(raw_data)["name"]}
"#;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request; returns the status code and the body.
pub(crate) fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn setup(context: &TestContext) {
    context.write("model/greeting.txt", "hello");
    context.ok(&[
        "model",
        "register",
        "--name",
        "greeter",
        "--path",
        "model/greeting.txt",
    ]);
    context.write("score.py", SCORE);
}

#[test]
fn deploy_score_reload_and_delete() {
    let context = TestContext::new();
    setup(&context);
    let port = free_port();
    let port_text = port.to_string();
    let output = context.run(&[
        "deploy",
        "greetsvc",
        "--model",
        "greeter:1",
        "--entry-script",
        "score.py",
        "--env",
        "Strata-Minimal",
        "--port",
        &port_text,
        "--workers",
        "2",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert_eq!(
        output.stdout.trim(),
        format!("http://127.0.0.1:{port}/score")
    );
    assert_eq!(request(port, "GET", "/", ""), (200, "Healthy".to_string()));
    assert_eq!(
        request(port, "POST", "/score", r#"{"name": "strata"}"#),
        (200, r#"{"answer": "hello strata"}"#.to_string())
    );
    let services = context.json(&["service", "list", "--json"]);
    assert_eq!(services[0]["service"]["state"], "running");
    assert_eq!(services[0]["service"]["config"]["workers"], 2);
    assert_eq!(services[0]["url"], format!("http://127.0.0.1:{port}/score"));
    let logs = context.ok(&["service", "logs", "greetsvc"]);
    assert!(
        logs.contains("init: model dir") && logs.contains("azureml-models/greeter/1"),
        "{logs}"
    );
    assert!(
        logs.contains(r#"scoring {"name": "strata"}"#),
        "print() lands in the service log: {logs}"
    );

    // Reload takes fresh copies of the script without a rebuild.
    context.write(
        "score.py",
        &SCORE.replace("prefix + \" \"", "prefix.upper() + \" \""),
    );
    let reload = context.run(&["service", "reload", "greetsvc"]);
    assert_eq!(reload.code, 0, "{reload}");
    assert_eq!(
        request(port, "POST", "/score", r#"{"name": "strata"}"#).1,
        r#"{"answer": "HELLO strata"}"#
    );

    let delete = context.run(&["service", "delete", "greetsvc"]);
    assert_eq!(delete.code, 0, "{delete}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the port is free"
    );
    assert_eq!(
        context.json(&["service", "show", "greetsvc", "--json"])["service"]["state"],
        "deleted"
    );
}

#[test]
fn a_failing_init_fails_the_deployment_with_its_traceback() {
    let context = TestContext::new();
    setup(&context);
    context.write(
        "bad.py",
        "def init():\n    raise RuntimeError('no model here')\n\ndef run(data):\n    return data\n",
    );
    let port = free_port().to_string();
    let output = context.run(&[
        "deploy",
        "badsvc",
        "--model",
        "greeter",
        "--entry-script",
        "bad.py",
        "--env",
        "Strata-Minimal",
        "--port",
        &port,
    ]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output.stderr.contains("RuntimeError: no model here"),
        "{output}"
    );
    assert!(
        output.stderr.contains("Deploying `badsvc` failed"),
        "{output}"
    );
    assert_eq!(
        context.json(&["service", "show", "badsvc", "--json"])["service"]["state"],
        "failed"
    );
    let not_python = context.run(&[
        "deploy",
        "x",
        "--model",
        "greeter",
        "--entry-script",
        "score.txt",
        "--env",
        "Strata-Minimal",
    ]);
    assert_eq!(not_python.code, 1, "{not_python}");
    assert!(
        not_python
            .stderr
            .contains("The entry script `score.txt` must be a `.py` file"),
        "{not_python}"
    );
}

#[test]
fn serving_in_another_environment_warns_with_the_package_diff() {
    let context = TestContext::new();
    context.write("src/train.py", "import os\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/greeting.txt', 'w').write('hi')\n");
    context.ok(&["run", "--source-dir", "src", "train.py"]);
    let run = context.json(&["runs", "list", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    context.ok(&[
        "model",
        "register",
        "--name",
        "greeter",
        "--run",
        &run,
        "--path",
        "outputs/greeting.txt",
    ]);
    context.write("score.py", SCORE);
    context.write("requirements.txt", "six==1.16.0\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "other",
        "--requirements",
        "requirements.txt",
    ]);
    let port = free_port();
    let output = context.run(&[
        "deploy",
        "warnsvc",
        "--model",
        "greeter",
        "--entry-script",
        "score.py",
        "--env",
        "other",
        "--port",
        &port.to_string(),
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stderr.contains("warning: Model `greeter:1` was trained in Strata-Minimal:1, not other:1; package differences: six:"), "{output}");
    let show: Value = context.json(&["service", "show", "warnsvc", "--json"]);
    assert_eq!(show["lineage"][0]["run"], run.as_str());
    context.ok(&["service", "delete", "warnsvc"]);
    // Without --env, the model's training environment serves it: no warning.
    let port = free_port();
    let output = context.run(&[
        "deploy",
        "samesvc",
        "--model",
        "greeter",
        "--entry-script",
        "score.py",
        "--port",
        &port.to_string(),
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(!output.stderr.contains("warning"), "{output}");
    assert_eq!(
        context.json(&["service", "show", "samesvc", "--json"])["service"]["envName"],
        "Strata-Minimal"
    );
    context.ok(&["service", "delete", "samesvc"]);
}

#[test]
fn serve_runs_in_the_foreground_until_interrupted() {
    let context = TestContext::new();
    setup(&context);
    let port = free_port();
    let child = context
        .command()
        .args([
            "serve",
            "--model",
            "greeter",
            "--entry-script",
            "score.py",
            "--env",
            "Strata-Minimal",
            "--port",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while request_ready(port).is_none_or(|status| status != 200) {
        assert!(started.elapsed() < Duration::from_secs(120), "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(request(port, "POST", "/score", r#"{"name": "x"}"#).0, 200);
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("POST /score 200"));
}

pub(crate) fn request_ready(port: u16) -> Option<u16> {
    TcpStream::connect(("127.0.0.1", port)).ok()?;
    Some(request(port, "GET", "/health/ready", "").0)
}
