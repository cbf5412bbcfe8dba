//! A team server through the real binary: `strata server` on PostgreSQL (the one the test
//! command starts, `STRATA_TEST_PG_URI`), two teammates with tokens of different roles, the
//! CLI against the server URL, a run executed here and followed from elsewhere, and a local
//! workspace pushed to the server.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestContext, shared_cache};
use crate::serve::free_port;

/// The PostgreSQL the test command started; in CI its absence is a failure, not a skip.
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn pg_uri() -> Option<String> {
    match std::env::var("STRATA_TEST_PG_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "STRATA_TEST_PG_URI is not set: scripts/test starts PostgreSQL for these tests"
            );
            eprintln!("skipping: STRATA_TEST_PG_URI is not set (scripts/test sets it)");
            None
        }
    }
}

/// A database of this test's own on the test server.
fn fresh_database(uri: &str, name: &str) -> String {
    let database = format!("strata_cli_{name}_{}", std::process::id());
    let status = Command::new("psql")
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .args([uri, "-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("DROP DATABASE IF EXISTS {database}"))
        .arg("-c")
        .arg(format!("CREATE DATABASE {database}"))
        .status()
        .expect("run psql");
    assert!(status.success(), "psql could not create {database}");
    let base = uri.rsplit_once('/').map_or(uri, |(base, _)| base);
    format!("{base}/{database}")
}

/// A running `strata server run`, stopped (SIGTERM) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix_kill(self.child.id());
        let _ = self.child.wait();
    }
}

fn nix_kill(pid: u32) -> std::io::Result<()> {
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .map(|_| ())
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

pub(crate) struct Team {
    pub(crate) context: TestContext,
    pub(crate) database: String,
    pub(crate) server: Server,
    pub(crate) alice: String,
    pub(crate) bob: String,
}

impl Team {
    pub(crate) fn new(name: &str) -> Option<Self> {
        let uri = pg_uri()?;
        let database = fresh_database(&uri, name);
        Some(Self::on(TestContext::bare(), database))
    }

    /// A team on `database` (migrated here), its server on a port of its own.
    fn on(context: TestContext, database: String) -> Self {
        let migrated = context.ok(&["server", "migrate", "--database", &database]);
        assert!(migrated.contains("Migrated the schema"), "{migrated}");
        context.ok(&[
            "server",
            "workspace",
            "create",
            "team",
            "--database",
            &database,
        ]);
        let token = |user: &str, role: &str| -> String {
            let created = context.json(&[
                "--workspace",
                "team",
                "server",
                "token",
                "create",
                "--database",
                &database,
                "--user",
                user,
                "--role",
                role,
                "--json",
            ]);
            created["token"].as_str().unwrap().to_string()
        };
        let alice = token("alice", "contributor");
        let bob = token("bob", "reader");
        let server = start_server(&context, &database, free_port());
        Self {
            context,
            database,
            server,
            alice,
            bob,
        }
    }
}

/// `strata server run` on `database`, its blobs in the context's directory; waits until it
/// answers.
fn start_server(context: &TestContext, database: &str, port: u16) -> Server {
    let blobs = context.path().join("blobs");
    fs_err::create_dir_all(&blobs).unwrap();
    let child = context
        .command()
        .args(["server", "run", "--database", database, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--blobs")
        .arg(format!("file://{}", blobs.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}/w/team"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_get(port, "/api/v1/health").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

impl Team {
    /// `strata` as a teammate, against the server workspace; each teammate has a cache (and
    /// so a working copy) of their own, as on separate machines.
    pub(crate) fn as_user(&self, token: &str, cache: &str) -> Command {
        let mut command = self.context.command();
        command
            .env("STRATA_WORKSPACE", &self.server.url)
            .env("STRATA_TOKEN", token)
            .env(
                "XDG_CONFIG_HOME",
                self.context.path().join(format!("{cache}-config")),
            )
            .env("STRATA_CACHE", machine_cache(self.context.path(), cache));
        command
    }

    pub(crate) fn run(&self, token: &str, cache: &str, args: &[&str]) -> crate::common::Output {
        self.context.output(self.as_user(token, cache).args(args))
    }

    pub(crate) fn ok(&self, token: &str, cache: &str, args: &[&str]) -> String {
        let output = self.run(token, cache, args);
        assert_eq!(output.code, 0, "strata {}: {output}", args.join(" "));
        output.stdout
    }
}

/// A cache of its own per simulated machine, sharing the test run's downloads (uv, wheels) by
/// linking the tool and package directories of the shared cache.
fn machine_cache(root: &Path, name: &str) -> PathBuf {
    let cache = root.join(format!("{name}-cache"));
    if !cache.exists() {
        fs_err::create_dir_all(&cache).unwrap();
        let shared = shared_cache();
        fs_err::create_dir_all(&shared).unwrap();
        for entry in ["tools", "uv", "conda", "wheels"] {
            let source = shared.join(entry);
            fs_err::create_dir_all(&source).unwrap();
            std::os::unix::fs::symlink(&source, cache.join(entry)).unwrap();
        }
    }
    cache
}

const TRAIN: &str = r#"
import sys, time
from strata import Run
run = Run.get_context()
print("training", sys.argv[1:], flush=True)
for step in range(3):
    run.log("loss", 1.0 / (step + 1))
run.tag("team", "ml")
open("outputs/model.txt", "w").write("weights")
print("done", flush=True)
"#;

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

#[test]
fn tokens_are_saved_by_login_checked_and_revocable() {
    let Some(team) = Team::new("tokens") else {
        return;
    };
    let context = &team.context;
    let config = context.path().join("dana-config");
    let login = |token: &str| {
        let mut command = context.command();
        command
            .env("XDG_CONFIG_HOME", &config)
            .env_remove("STRATA_TOKEN")
            .args(["login", &team.server.url, "--token-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(token.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let wrong = login("strata_pat_wrong");
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    assert!(!config.join("strata/credentials.toml").exists());
    let saved = login(&team.alice);
    assert!(saved.status.success(), "{saved:?}");
    let file = config.join("strata/credentials.toml");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs_err::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The saved token works without STRATA_TOKEN.
    let mut list = context.command();
    list.env("XDG_CONFIG_HOME", &config)
        .env_remove("STRATA_TOKEN")
        .args(["--workspace", &team.server.url, "env", "list"]);
    let listed = context.output(&mut list);
    assert_eq!(listed.code, 0, "{listed}");
    assert!(
        listed.stdout.contains("Strata-Minimal") || listed.stdout.contains("NAME"),
        "{listed}"
    );

    // Listed by id, never shown again; revoked, it stops working at once.
    let tokens: serde_json::Value = context.json(&[
        "server",
        "token",
        "list",
        "--database",
        &team.database,
        "--json",
    ]);
    let text = tokens.to_string();
    assert!(
        !text.contains(&team.alice) && !text.contains(&team.bob),
        "{text}"
    );
    let bob_id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "bob")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    context.ok(&[
        "server",
        "token",
        "revoke",
        "--database",
        &team.database,
        &bob_id,
    ]);
    let revoked = team.run(&team.bob, "bob", &["env", "list"]);
    assert_eq!(revoked.code, 1, "{revoked}");
    assert!(
        !revoked.stderr.contains(&team.bob),
        "a token never appears in errors: {revoked}"
    );
}

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
    let push = |local: &TestContext| -> String {
        let mut command = local.command();
        command.env("STRATA_TOKEN", &team.alice).args([
            "workspace",
            "push",
            &team.server.url,
            "--json",
        ]);
        let output = local.output(&mut command);
        assert_eq!(output.code, 0, "{output}");
        output.stdout
    };
    let first: serde_json::Value = serde_json::from_str(&push(&local)).unwrap();
    assert_eq!(first["environmentVersions"], 1, "{first}");
    assert_eq!(first["locks"], 1, "{first}");
    assert_eq!(first["runs"], 1, "{first}");
    assert_eq!(first["models"], 1, "{first}");
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

    let elsewhere = team.run(&team.alice, "alice", &["service", "delete", "svc"]);
    assert_eq!(
        elsewhere.code, 1,
        "only the deploying machine deletes it: {elsewhere}"
    );
    team.ok(&team.alice, "alice-server", &["service", "delete", "svc"]);
    let services: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["service", "list", "--json"])).unwrap();
    assert_eq!(services[0]["service"]["state"], "deleted", "{services}");
}

/// Registrations from 8 clients at once while the server is killed (SIGKILL) and started
/// again: every registration that was answered is there afterwards, versions run 1..n with no
/// gap or duplicate, and each version reads back whole.
#[test]
fn a_server_killed_during_writes_restarts_consistent() {
    let Some(mut team) = Team::new("kill") else {
        return;
    };
    let url = team.server.url.clone();
    let port: u16 = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let stop = stop.clone();
            let answered = answered.clone();
            let dir = team.context.path().join(format!("client{client}"));
            let token = team.alice.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    n += 1;
                    fs_err::create_dir_all(&dir).unwrap();
                    fs_err::write(
                        dir.join("requirements.txt"),
                        format!("six==1.16.0\n# {client}-{n}\npackaging>={client}.{n}\n"),
                    )
                    .unwrap();
                    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
                        .current_dir(&dir)
                        .env("STRATA_WORKSPACE", &url)
                        .env("STRATA_TOKEN", &token)
                        .args([
                            "env",
                            "register",
                            "--name",
                            "shared",
                            "--requirements",
                            "requirements.txt",
                            "--json",
                        ])
                        .output()
                        .unwrap();
                    if output.status.success() {
                        let value: serde_json::Value =
                            serde_json::from_slice(&output.stdout).unwrap();
                        answered
                            .lock()
                            .unwrap()
                            .push(value["version"].as_u64().unwrap());
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(team.server.child.id().to_string())
        .status();
    let _ = team.server.child.wait();
    std::thread::sleep(Duration::from_millis(500));
    team.server = start_server(&team.context, &team.database, port);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }
    let versions: serde_json::Value = serde_json::from_str(&team.ok(
        &team.bob,
        "bob",
        &["env", "list", "--all-versions", "--json"],
    ))
    .unwrap();
    let mut stored: Vec<u64> = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"] == "shared")
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    stored.sort_unstable();
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() > 4,
        "registrations were answered before and after: {answered:?}"
    );
    assert_eq!(
        stored,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    for version in &answered {
        assert!(
            stored.contains(version),
            "answered version {version} is stored"
        );
    }
    for version in &stored {
        team.ok(
            &team.bob,
            "bob",
            &["env", "show", &format!("shared:{version}")],
        );
    }
}

/// PostgreSQL stopped under a running server: requests fail with a clear "unavailable" error
/// (503) while it is down, and succeed again once it is back, without restarting the server.
#[test]
fn a_database_restart_is_unavailable_then_recovers_without_a_server_restart() {
    if pg_uri().is_none() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-test-server");
    let cluster = tempfile::tempdir().unwrap();
    let pg = |command: &str| -> String {
        let output = Command::new(&script)
            .arg(command)
            .arg(cluster.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pg-test-server {command}: {output:?}"
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    struct Stop<'a>(&'a Path, &'a Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = Command::new(self.0).arg("stop").arg(self.1).output();
        }
    }
    let uri = pg("start");
    let _stop = Stop(&script, cluster.path());
    let team = Team::on(TestContext::bare(), uri);
    team.ok(&team.bob, "bob", &["env", "list"]);
    pg("stop");
    let down = team.run(&team.bob, "bob", &["env", "list"]);
    assert_eq!(down.code, 1, "{down}");
    assert!(down.stderr.contains("unavailable"), "{down}");
    let port: u16 = team
        .server
        .url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(http_get(port, "/api/v1/health").is_some_and(|r| r.starts_with("HTTP/1.1 503")));
    pg("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = team.run(&team.bob, "bob", &["env", "list"]);
        if up.code == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not recover: {up}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
