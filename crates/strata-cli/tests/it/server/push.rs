//! `strata workspace push`: a local workspace copied to the server, and again with only what
//! is new.

use crate::common::TestContext;
use crate::serve::free_port;

use super::{TRAIN, Team};

#[test]
fn a_local_workspace_is_pushed_to_the_server() {
    let Some(team) = Team::new("push") else {
        return;
    };
    let local = TestContext::new();
    local.write("src/train.py", TRAIN);
    local.ok(&["env", "scaffold", "-n", "trainenv", "-d", "envdir"]);
    local.ok(&["env", "register", "-d", "envdir"]);
    local.ok(&[
        "run",
        "--env",
        "trainenv",
        "--source-dir",
        "src",
        "train.py",
    ]);
    let run_id = local.json(&["runs", "list", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    local.ok(&[
        "model",
        "register",
        "--name",
        "mymodel",
        "--run",
        &run_id,
        "--path",
        "outputs/model.txt",
    ]);
    // A Slurm target attached here goes to the server with an owner's push only.
    let Some(conf) = crate::compute::slurm_conf() else {
        return;
    };
    let mut attach = local.command();
    attach
        .env("SLURM_CONF", &conf)
        .args(["compute", "attach", "hpc", "--slurm"]);
    let attached = local.output(&mut attach);
    assert_eq!(attached.code, 0, "{attached}");
    let owner = team.token("olga", "owner");
    let push_as = |local: &TestContext, token: &str| -> String {
        let mut command = local.command();
        command
            .env("STRATA_TOKEN", token)
            .args(["workspace", "push", &team.server.url, "--json"]);
        let output = local.output(&mut command);
        assert_eq!(output.code, 0, "{output}");
        output.stdout
    };
    let push = |local: &TestContext| push_as(local, &team.alice);
    let first: serde_json::Value = serde_json::from_str(&push(&local)).unwrap();
    assert_eq!(first["environmentVersions"], 1, "{first}");
    assert_eq!(first["locks"], 1, "{first}");
    assert_eq!(first["runs"], 1, "{first}");
    assert_eq!(first["models"], 1, "{first}");
    assert_eq!(first["targets"], 0, "{first}");
    assert_eq!(
        first["targetsNotPushed"],
        serde_json::json!(["hpc"]),
        "a contributor may not attach compute: {first}"
    );
    let by_owner: serde_json::Value = serde_json::from_str(&push_as(&local, &owner)).unwrap();
    assert_eq!(by_owner["targets"], 1, "{by_owner}");
    assert_eq!(by_owner["runs"], 0, "{by_owner}");
    let targets = team.ok(&team.bob, "bob", &["compute", "show", "hpc", "--json"]);
    assert!(targets.contains("\"slurm\""), "{targets}");
    let second: serde_json::Value = serde_json::from_str(&push(&local)).unwrap();
    assert_eq!(
        second["runs"], 0,
        "pushing again sends only what is new: {second}"
    );
    assert_eq!(second["blobs"], 0, "{second}");
    let show: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["runs", "show", &run_id, "--json"]))
            .unwrap();
    assert_eq!(show["run"]["status"], "Completed", "{show}");
    assert_eq!(show["metrics"].as_array().unwrap().len(), 3, "{show}");
    let model = team.ok(&team.bob, "bob", &["model", "show", "mymodel:1"]);
    assert!(model.contains("model.txt"), "{model}");
    let logs = team.ok(&team.bob, "bob", &["runs", "logs", &run_id]);
    assert!(logs.contains("done"), "{logs}");

    // Alice serves the pushed model from another machine: the service runs there, in the
    // environment the model was trained in, and the team sees it on the server.
    team.context.write(
        "score.py",
        "import os\ndef init():\n    global text\n    text = open(os.path.join(os.environ['AZUREML_MODEL_DIR'], 'model.txt')).read()\ndef run(data):\n    return {'model': text}\n",
    );
    let port = free_port();
    let deployed = team.run(
        &team.alice,
        "alice-server",
        &[
            "deploy",
            "svc",
            "--model",
            "mymodel:1",
            "--entry-script",
            "score.py",
            "--port",
            &port.to_string(),
        ],
    );
    assert_eq!(deployed.code, 0, "{deployed}");
    let (status, body) = crate::serve::request(port, "POST", "/score", "{}");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("weights"), "{body}");
    let services: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["service", "list", "--json"])).unwrap();
    assert_eq!(services[0]["service"]["name"], "svc", "{services}");
    assert_eq!(services[0]["service"]["state"], "running", "{services}");
    assert_eq!(services[0]["service"]["envName"], "trainenv", "{services}");
    // Bound to loopback, it is recorded as loopback, and the deployer is told only their
    // machine reaches it.
    assert_eq!(services[0]["service"]["host"], "127.0.0.1", "{services}");
    assert!(
        deployed.stderr.contains("only this machine reaches it"),
        "{deployed}"
    );

    // Listening on every interface, it is recorded at the machine's hostname; with
    // `--advertise-host`, at that host, which its deletion keeps.
    let hostname = fs_err::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    for (name, extra, host) in [
        ("svc-lan", vec!["--host", "0.0.0.0"], hostname.as_str()),
        (
            "svc-proxied",
            vec!["--advertise-host", "scoring.example.test"],
            "scoring.example.test",
        ),
    ] {
        let port = free_port().to_string();
        let mut args = vec![
            "deploy",
            name,
            "--model",
            "mymodel:1",
            "--entry-script",
            "score.py",
            "--port",
            &port,
        ];
        args.extend(extra);
        let deployed = team.run(&team.alice, "alice-server", &args);
        assert_eq!(deployed.code, 0, "{deployed}");
        assert!(
            deployed
                .stderr
                .contains(&format!("http://{host}:{port}/score")),
            "the deployer sees the recorded URL: {deployed}"
        );
        let shown: serde_json::Value =
            serde_json::from_str(&team.ok(&team.bob, "bob", &["service", "show", name, "--json"]))
                .unwrap();
        assert_eq!(shown["service"]["host"], host, "{shown}");
        team.ok(&team.alice, "alice-server", &["service", "delete", name]);
        let shown: serde_json::Value =
            serde_json::from_str(&team.ok(&team.bob, "bob", &["service", "show", name, "--json"]))
                .unwrap();
        assert_eq!(
            (&shown["service"]["state"], &shown["service"]["host"]),
            (&serde_json::json!("deleted"), &serde_json::json!(host)),
            "{shown}"
        );
    }

    // The deploying machine reads the service's log and reloads it; another machine is told
    // where the service runs.
    let logs = team.ok(&team.alice, "alice-server", &["service", "logs", "svc"]);
    assert!(logs.contains("finished init()"), "{logs}");
    let reloaded = team.ok(&team.alice, "alice-server", &["service", "reload", "svc"]);
    assert_eq!(reloaded.trim(), "Reloaded svc");
    let (status, body) = crate::serve::request(port, "POST", "/score", "{}");
    assert_eq!(status, 200, "served after the reload: {body}");
    for command in ["logs", "reload", "delete"] {
        let elsewhere = team.run(&team.alice, "alice", &["service", command, "svc"]);
        assert_eq!(
            elsewhere.code, 1,
            "only the deploying machine can `service {command}`: {elsewhere}"
        );
        assert!(
            elsewhere
                .stderr
                .contains("error: Service `svc` was deployed from another machine (`127.0.0.1`)"),
            "{elsewhere}"
        );
    }

    // A reader serves the model in the foreground on their machine, from the server's records.
    let port = free_port();
    let child = team
        .as_user(&team.bob, "bob-serving")
        .args([
            "serve",
            "--model",
            "mymodel:1",
            "--entry-script",
            "score.py",
            "--port",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while crate::serve::request_ready(port).is_none_or(|status| status != 200) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(180),
            "never ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (status, body) = crate::serve::request(port, "POST", "/score", "{}");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("weights"), "{body}");
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let services: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["service", "list", "--json"])).unwrap();
    assert_eq!(
        services.as_array().unwrap().len(),
        3,
        "a foreground server is not recorded: {services}"
    );
    team.ok(&team.alice, "alice-server", &["service", "delete", "svc"]);
    let services: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["service", "list", "--json"])).unwrap();
    assert_eq!(services[0]["service"]["state"], "deleted", "{services}");
}
