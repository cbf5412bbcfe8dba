//! Runs and services in containers: a run in the environment's image, cancelled, and its model
//! served from a container.

use super::*;

#[test]
fn runs_and_services_in_containers() {
    if skip_without_tools("runs_and_services_in_containers") {
        return;
    }
    let context = TestContext::new();
    register_env(&context, "boxed", "six==1.16.0\n");
    let image = context.json(&["env", "image", "boxed", "--load", "--json"]);
    assert!(
        image["loaded"]
            .as_str()
            .unwrap()
            .starts_with("localhost/strata/env_"),
        "{image}"
    );
    context.write(
        "train.py",
        "import os, sys, six\nfrom strata import Run\nrun = Run.get_context()\nrun.log('accuracy', 0.9)\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/model.txt', 'w').write('weights')\nprint('interpreter', sys.executable, sys.argv[1:])\n",
    );
    let output = context.run(&[
        "run",
        "--target",
        "container",
        "--env",
        "boxed",
        "train.py",
        "--epochs",
        "2",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output
            .stdout
            .contains("interpreter /opt/strata/env/bin/python ['--epochs', '2']"),
        "{output}"
    );
    let runs = context.json(&["runs", "list", "--json"]);
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let run = context.json(&["runs", "show", &id, "--json"])["run"].clone();
    assert_eq!(run["status"], "Completed", "{run}");
    assert_eq!(run["target"], "container", "{run}");
    assert!(
        run["image"]
            .as_str()
            .unwrap()
            .contains(image["digest"].as_str().unwrap()),
        "{run}"
    );
    let shown = context.json(&["runs", "show", &id, "--json"]);
    assert_eq!(shown["metrics"][0]["name"], "accuracy", "{shown}");
    assert_eq!(shown["outputs"][0]["path"], "outputs/model.txt", "{shown}");
    let logs = context.ok(&["runs", "logs", &id]);
    assert!(
        logs.contains("interpreter /opt/strata/env/bin/python"),
        "{logs}"
    );

    // Cancelling a container run stops the script inside and removes the container.
    context.write(
        "slow.py",
        "import time\nprint('started', flush=True)\ntime.sleep(300)\n",
    );
    let submitted = context.ok(&[
        "run",
        "--target",
        "container",
        "--env",
        "boxed",
        "--detach",
        "--grace",
        "5",
        "slow.py",
    ]);
    let slow = submitted.trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !context
        .run(&["runs", "logs", &slow])
        .stdout
        .contains("started")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the container run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    context.ok(&["runs", "cancel", &slow]);
    let waited = context.run(&["runs", "wait", &slow]);
    assert_ne!(waited.code, 0, "{waited}");
    let canceled = context.json(&["runs", "show", &slow, "--json"])["run"].clone();
    assert_eq!(canceled["status"], "Canceled", "{canceled}");
    let containers = Command::new("podman")
        .args(["ps", "--all", "--format", "{{.Names}}"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&containers.stdout).contains(&slow),
        "the container of {slow} is left"
    );

    // The model from the container run, served from a container.
    context.ok(&[
        "model",
        "register",
        "--name",
        "boxmodel",
        "--run",
        &id,
        "--path",
        "outputs/model.txt",
    ]);
    context.write(
        "score.py",
        "import json, os, six\ndef init():\n    global weights\n    weights = open(os.path.join(os.environ['AZUREML_MODEL_DIR'], 'model.txt')).read()\ndef run(raw):\n    return {'weights': weights, 'sum': sum(json.loads(raw)['data']), 'python': __import__('sys').executable}\n",
    );
    let port = free_port();
    let port_text = port.to_string();
    let output = context.run(&[
        "deploy",
        "boxsvc",
        "--container",
        "--model",
        "boxmodel:1",
        "--entry-script",
        "score.py",
        "--port",
        &port_text,
    ]);
    assert_eq!(output.code, 0, "{output}");
    let (status, body) = request(port, "POST", "/score", r#"{"data": [1, 2, 3]}"#);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["weights"], "weights");
    assert_eq!(answer["sum"], 6);
    assert_eq!(answer["python"], "/opt/strata/env/bin/python");
    let (status, _) = request(port, "GET", "/health/ready", "");
    assert_eq!(status, 200);
    let service = context.json(&["service", "show", "boxsvc", "--json"])["service"].clone();
    assert_eq!(service["state"], "running", "{service}");
    let logs = context.ok(&["service", "logs", "boxsvc"]);
    assert!(logs.contains("POST /score 200"), "{logs}");
    let reload = context.run(&["service", "reload", "boxsvc"]);
    assert_eq!(reload.code, 1, "{reload}");
    assert!(
        reload.stderr.contains("strata deploy --container"),
        "{reload}"
    );
    // A supervisor killed outright leaves its container serving; delete still removes it.
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", "serve --service boxsvc"])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, _) = request(port, "GET", "/health/live", "");
    assert_eq!(status, 200, "the container should outlive its supervisor");
    context.ok(&["service", "delete", "boxsvc"]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
