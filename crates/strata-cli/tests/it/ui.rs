//! `strata ui` in headless Chromium: every page of a populated workspace (two environment
//! versions with locks and a build, completed, failed, running and 10,000-point runs, unicode
//! names, a hostile tag, a model, a service) and of an empty one loads with no console
//! message, and each page's screenshot is written under the target directory
//! (`CARGO_TARGET_TMPDIR/ui-screenshots/`, or `STRATA_UI_SCREENSHOT_DIR`).
//! Chromium comes from `scripts/setup-test-tools`; without it the test fails when `CI=true`.
#![expect(clippy::print_stderr, reason = "a skipped test says why")]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use strata_spec::{
    EnvironmentVersion, Lock, LockedPython, PypiLockedPackage, PypiSource, PythonSource,
};
use strata_store::{
    COMPLETED, FAILED, Metric, ModelRecord, RUNNING, RunRecord, SERVICE_RUNNING, ServiceConfig,
    ServiceModel, ServiceRecord, Workspace, now_millis,
};

use crate::common::TestContext;

pub(crate) const HOSTILE: &str = "<script>alert(1)</script>";
pub(crate) const EXPERIMENT: &str = "expérience-α";

/// `chromium` on PATH, or `None` (a failure under CI).
pub(crate) fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is missing under CI: run scripts/setup-test-tools"
        );
        eprintln!(
            "skipping the browser test: chromium is not installed (scripts/setup-test-tools)"
        );
    }
    found
}

/// What Chromium made of one page.
pub(crate) struct Loaded {
    pub(crate) dom: String,
    pub(crate) console: Vec<String>,
}

/// Loads `url` in a fresh headless Chromium; dumps the DOM and writes a screenshot.
pub(crate) fn load(chromium: &Path, url: &str, screenshot: &Path) -> Loaded {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1000",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Loaded {
        dom: String::from_utf8_lossy(&output.stdout).into_owned(),
        console,
    }
}

/// A raw HTTP/1.1 exchange with the UI server: (status, headers, body).
pub(crate) fn http(
    address: &str,
    method: &str,
    target: &str,
    form: Option<&str>,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let body = form.unwrap_or("");
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// A stand-in scoring service on 127.0.0.1: answers every request with the body it got.
pub(crate) fn fake_service() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer = format!("{{\"echo\": {}}}", String::from_utf8_lossy(&body));
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    port
}

fn lock(packages: &[(&str, &str)]) -> Lock {
    Lock {
        version: strata_spec::LOCK_FORMAT_VERSION,
        platform: "linux-64".into(),
        python: Some(LockedPython {
            version: "3.11.2".into(),
            source: PythonSource::System,
        }),
        conda: Vec::new(),
        pypi: packages
            .iter()
            .map(|(name, version)| PypiLockedPackage {
                name: (*name).into(),
                version: (*version).into(),
                source: PypiSource::Index {
                    url: "https://pypi.org/simple".into(),
                },
                hashes: Vec::new(),
            })
            .collect(),
        pip_options: Vec::new(),
        user_managed: None,
        base_image: None,
    }
}

fn run_record(id: &str, experiment: &str, version: &str, dir: &Path) -> RunRecord {
    RunRecord {
        id: id.into(),
        experiment: experiment.into(),
        status: String::new(),
        env_name: "trainenv".into(),
        env_version: EnvironmentVersion::from_stored(version.into()),
        lock_hash: None,
        script: "train.py".into(),
        arguments: vec!["--lr".into(), "0.1".into()],
        source_dir: dir.display().to_string(),
        snapshot: None,
        run_dir: dir.join("gone").join(id).display().to_string(),
        outputs: None,
        logs: None,
        exit_code: None,
        error: None,
        supervisor_pid: None,
        supervisor_start: None,
        process_group: None,
        cancel_requested: false,
        queued_at: now_millis(),
        preparing_at: None,
        started_at: None,
        finished_at: None,
        target: "local".into(),
        image: None,
    }
}

fn scalars(name: &str, values: impl IntoIterator<Item = f64>) -> Vec<Metric> {
    values
        .into_iter()
        .map(|value| Metric {
            name: name.into(),
            kind: "scalar".into(),
            value: value.into(),
            logged_at: now_millis(),
        })
        .collect()
}

/// The quickstart's objects, written through the store, plus the edge cases.
pub(crate) fn populate(context: &TestContext, service_port: u16) {
    context.write("v1/requirements.txt", "numpy\nscikit-learn\n");
    context.write("v2/requirements.txt", "numpy\nscikit-learn\npandas>=2\n");
    for dir in ["v1", "v2"] {
        let output = context.run(&[
            "env",
            "register",
            "--name",
            "trainenv",
            "--requirements",
            &format!("{dir}/requirements.txt"),
        ]);
        assert_eq!(output.code, 0, "{output}");
    }
    let mut workspace = Workspace::open(&context.path().join(".strata")).unwrap();
    let v1 = EnvironmentVersion::from_stored("1".into());
    let v2 = EnvironmentVersion::from_stored("2".into());
    let lock1 = workspace
        .set_lock(
            "trainenv",
            &v1,
            &lock(&[("numpy", "1.26.4"), ("scikit-learn", "1.4.2")]),
        )
        .unwrap();
    let lock2 = workspace
        .set_lock(
            "trainenv",
            &v2,
            &lock(&[
                ("numpy", "2.0.1"),
                ("scikit-learn", "1.4.2"),
                ("pandas", "2.2.2"),
            ]),
        )
        .unwrap();
    workspace
        .record_build(
            strata_store::BuildRecord {
                name: "trainenv".into(),
                version: v2.clone(),
                lock_hash: Some(lock2.lock_hash.clone()),
                status: "succeeded".into(),
                prefix: None,
                log_digest: None,
                error: None,
                started_at: now_millis() - 4200,
                finished_at: now_millis(),
            },
            &format!("Resolved 3 packages\nInstalled numpy 2.0.1\n{HOSTILE}\n"),
        )
        .unwrap();

    let files = context.path().join("files");
    fs_err::create_dir_all(files.join("outputs")).unwrap();
    fs_err::create_dir_all(files.join("logs")).unwrap();
    fs_err::write(files.join("outputs/model.pkl"), b"pickled").unwrap();
    fs_err::write(files.join("outputs/résumé-模型.txt"), "unicode file\n").unwrap();
    fs_err::write(
        files.join("logs/std_log.txt"),
        format!("epoch 1\nloss 0.5\n{HOSTILE}\n"),
    )
    .unwrap();
    let outputs = workspace.store_dir(&files.join("outputs")).unwrap().0;
    let logs = workspace.store_dir(&files.join("logs")).unwrap().0;

    let finish = |workspace: &Workspace, run: &RunRecord, status: &str, error: Option<&str>| {
        workspace.create_run(run).unwrap();
        workspace.run_started(&run.id, 1).unwrap();
        workspace
            .run_finished(
                &run.id,
                status,
                Some(i64::from(status != COMPLETED)),
                error,
                Some(&outputs),
                Some(&logs),
            )
            .unwrap();
    };
    let good = run_record("good_run", EXPERIMENT, "1", context.path());
    finish(&workspace, &good, COMPLETED, None);
    workspace
        .run_prepared("good_run", &lock1.lock_hash)
        .unwrap();
    workspace
        .add_metrics("good_run", &scalars("accuracy", [0.71, 0.8, 0.86, 0.9]))
        .unwrap();
    workspace
        .add_metrics("good_run", &scalars("loss", [0.9, 0.5, 0.3, 0.2]))
        .unwrap();
    workspace
        .set_run_tag("good_run", "note", Some(HOSTILE))
        .unwrap();
    workspace
        .set_run_tag("good_run", "数据集", Some("ñandú"))
        .unwrap();

    let second = run_record("second_run", EXPERIMENT, "2", context.path());
    finish(&workspace, &second, COMPLETED, None);
    workspace
        .add_metrics("second_run", &scalars("accuracy", [0.75, 0.84, 0.91]))
        .unwrap();

    let failed = run_record("failed_run", EXPERIMENT, "2", context.path());
    finish(
        &workspace,
        &failed,
        FAILED,
        Some("Script exited with code 1: ValueError: bad <input>"),
    );

    let big = run_record("big_run", "long-training", "2", context.path());
    finish(&workspace, &big, COMPLETED, None);
    let wave = (0..10_000).map(|i| (f64::from(i) / 300.0).sin() / (1.0 + f64::from(i) / 2000.0));
    workspace
        .add_metrics("big_run", &scalars("loss", wave))
        .unwrap();

    let running = run_record("running_run", "long-training", "2", context.path());
    workspace.create_run(&running).unwrap();
    workspace.run_started("running_run", 1).unwrap();
    assert_eq!(workspace.get_run("running_run").unwrap().status, RUNNING);

    let model = workspace
        .register_model(ModelRecord {
            name: "quickstart-model".into(),
            version: 0,
            manifest: outputs.clone(),
            path: "outputs/model.pkl".into(),
            description: Some(format!("trained in {EXPERIMENT} {HOSTILE}")),
            run_id: Some("good_run".into()),
            experiment: Some(EXPERIMENT.into()),
            env_name: Some("trainenv".into()),
            env_version: Some(v1.clone()),
            lock_hash: Some(lock1.lock_hash.clone()),
            created_at: now_millis(),
        })
        .unwrap();
    workspace
        .put_service(&ServiceRecord {
            name: "quickstart-svc".into(),
            state: SERVICE_RUNNING.into(),
            host: "127.0.0.1".into(),
            port: service_port,
            env_name: "trainenv".into(),
            env_version: v1,
            lock_hash: Some(lock1.lock_hash),
            models: vec![ServiceModel {
                name: model.name,
                version: model.version,
            }],
            entry_script: "score.py".into(),
            source_dir: None,
            service_dir: context.path().join("svc").display().to_string(),
            config: ServiceConfig {
                workers: 1,
                cpu_cores: None,
                memory_gb: None,
                timeout_ms: 5_000,
                container: None,
                model_dir: None,
                cors_origins: Vec::new(),
                health_port: None,
                server_version_header: true,
            },
            pid: None,
            pid_start: None,
            error: None,
            created_at: now_millis(),
            updated_at: now_millis(),
        })
        .unwrap();
}

/// `strata ui --port 0` in `context`; the child and its `host:port`.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(context: &TestContext) -> (Served, String) {
    let mut child = context
        .command()
        .args(["ui", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("strata ui printed {line:?}"))
        .to_string();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    (Served(child), address)
}

pub(crate) fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("STRATA_UI_SCREENSHOT_DIR").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots"),
        PathBuf::from,
    );
    fs_err::create_dir_all(&dir).unwrap();
    dir
}

/// Loads each `(name, target, must contain)` page and checks it.
pub(crate) fn check_pages(
    chromium: &Path,
    address: &str,
    pages: &[(&str, String, &str)],
) -> Vec<(String, Loaded)> {
    let dir = screenshot_dir();
    let mut loaded = Vec::new();
    for (name, target, expected) in pages {
        let (status, head, _) = http(address, "GET", target, None);
        assert_eq!(status, 200, "{target}");
        assert!(
            head.contains("content-security-policy: default-src 'none'; style-src 'self'"),
            "{target}: {head}"
        );
        let screenshot = dir.join(format!("{name}.png"));
        let _ = fs_err::remove_file(&screenshot);
        let page = load(chromium, &format!("http://{address}{target}"), &screenshot);
        assert!(
            page.console.is_empty(),
            "{target}: console messages: {:#?}",
            page.console
        );
        assert!(
            page.dom.contains(expected),
            "{target} lacks {expected:?}:\n{}",
            page.dom
        );
        assert!(
            !page.dom.contains("<script"),
            "{target} has a script element"
        );
        assert!(
            fs_err::metadata(&screenshot).unwrap().len() > 1000,
            "{name}.png"
        );
        loaded.push(((*name).to_string(), page));
    }
    loaded
}

#[test]
fn ui_pages_load_in_chromium_without_console_errors() {
    let Some(chromium) = chromium() else { return };
    // The console check must be able to fail: a page that logs is caught.
    let probe = tempfile::tempdir().unwrap();
    let logged = load(
        &chromium,
        "data:text/html,<script>console.error('probe')</script>",
        &probe.path().join("p.png"),
    );
    assert!(
        !logged.console.is_empty(),
        "console messages are not detected"
    );

    let context = TestContext::new();
    populate(&context, fake_service());
    let (_served, address) = start(&context);
    let pages: Vec<(&str, String, &str)> = vec![
        ("home", "/".into(), "Workspace"),
        ("environments", "/environments".into(), "trainenv"),
        (
            "environments-search",
            "/environments?q=train".into(),
            "trainenv:2",
        ),
        (
            "environment",
            "/environment?name=trainenv".into(),
            "Compare two versions",
        ),
        (
            "environment-version",
            "/environment/version?name=trainenv&version=2".into(),
            "pandas",
        ),
        (
            "build-log",
            "/build-log?id=1".into(),
            "Installed numpy 2.0.1",
        ),
        (
            "diff",
            "/diff?a=trainenv%3A1&b=trainenv%3A2".into(),
            "2.0.1",
        ),
        ("experiments", "/experiments".into(), EXPERIMENT),
        (
            "runs",
            "/runs?experiment=exp%C3%A9rience-%CE%B1".into(),
            "accuracy",
        ),
        (
            "runs-sorted",
            "/runs?experiment=exp%C3%A9rience-%CE%B1&sort=metric%3Aaccuracy&order=asc".into(),
            "good_run",
        ),
        (
            "runs-failed",
            "/runs?experiment=exp%C3%A9rience-%CE%B1&status=Failed".into(),
            "failed_run",
        ),
        ("run", "/run?id=good_run".into(), "résumé-模型.txt"),
        (
            "run-failed",
            "/run?id=failed_run".into(),
            "ValueError: bad &lt;input&gt;",
        ),
        (
            "run-10000-points",
            "/run?id=big_run".into(),
            "(10000 points)",
        ),
        ("run-running", "/run?id=running_run".into(), "Following"),
        (
            "compare",
            "/compare?run=good_run&run=second_run".into(),
            "pandas",
        ),
        ("models", "/models".into(), "quickstart-model"),
        ("model", "/model?name=quickstart-model".into(), "good_run"),
        (
            "model-lineage",
            "/model/version?name=quickstart-model&version=1".into(),
            "class=\"lineage\"",
        ),
        ("services", "/services".into(), "quickstart-svc"),
        (
            "service",
            "/service?name=quickstart-svc".into(),
            "POST /score",
        ),
    ];
    let loaded = check_pages(&chromium, &address, &pages);
    let dom = |name: &str| &loaded.iter().find(|(n, _)| n == name).unwrap().1.dom;

    // The hostile tag, log line and description are text, not markup.
    for page in ["run", "build-log", "model-lineage"] {
        assert!(
            dom(page).contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }
    // A 10,000-point series is drawn downsampled.
    let big = dom("run-10000-points");
    let polyline = big
        .split("points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(
        polyline.split_whitespace().count() <= 1002,
        "{} points drawn",
        polyline.split_whitespace().count()
    );
    // A running run's page follows it; a finished one does not reload.
    assert!(dom("run-running").contains("http-equiv=\"refresh\""));
    assert!(!dom("run").contains("http-equiv=\"refresh\""));
    // Sorting by a metric ascending puts the lower accuracy first.
    let sorted = dom("runs-sorted");
    let at = |id: &str| {
        sorted
            .find(&format!("href=\"/run?id={id}\""))
            .unwrap_or_else(|| panic!("{id}"))
    };
    assert!(at("good_run") < at("second_run"), "0.9 before 0.91");
    assert!(
        at("second_run") < at("failed_run"),
        "runs without the metric last"
    );
    assert!(!dom("runs-failed").contains("second_run"));
    // The diff marks added and changed packages.
    assert!(dom("diff").contains("class=\"added\""));
    assert!(dom("diff").contains("class=\"changed\""));

    // Downloads keep their bytes.
    let (status, head, body) = http(
        &address,
        "GET",
        "/run/file?id=good_run&tree=outputs&path=model.pkl",
        None,
    );
    assert_eq!((status, body.as_str()), (200, "pickled"));
    assert!(head.contains("content-disposition: attachment"));

    // Scoring needs the page's token; with it, the answer comes back from 127.0.0.1.
    let (_, _, page) = http(&address, "GET", "/service?name=quickstart-svc", None);
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let target = "/service/score?name=quickstart-svc";
    let (status, _, _) = http(&address, "POST", target, Some("body=%7B%22data%22%3A1%7D"));
    assert_eq!(status, 403, "no token");
    let (status, _, _) = http(&address, "POST", target, Some("csrf=forged&body=%7B%7D"));
    assert_eq!(status, 403, "a wrong token");
    let (status, _, answer) = http(
        &address,
        "POST",
        target,
        Some(&format!(
            "csrf={token}&body=%7B%22data%22%3A+%5B1%2C2%5D%7D"
        )),
    );
    assert_eq!(status, 200);
    assert!(
        answer.contains("{&quot;echo&quot;: {&quot;data&quot;: [1,2]}}"),
        "{answer}"
    );
    // Pages are read-only.
    let (status, _, _) = http(&address, "POST", "/environments", Some(""));
    assert_eq!(status, 405);
    let (status, _, _) = http(&address, "GET", "/run?id=nope", None);
    assert_eq!(status, 404);
}

#[test]
fn ui_pages_of_an_empty_workspace_load() {
    let Some(chromium) = chromium() else { return };
    let context = TestContext::new();
    let (_served, address) = start(&context);
    let pages: Vec<(&str, String, &str)> = vec![
        ("empty-home", "/".into(), "Workspace"),
        (
            "empty-environments",
            "/environments".into(),
            "Strata-Minimal",
        ),
        ("empty-experiments", "/experiments".into(), "Nothing here."),
        ("empty-models", "/models".into(), "Nothing here."),
        ("empty-services", "/services".into(), "Nothing here."),
        ("empty-diff", "/diff".into(), "Diff"),
        (
            "empty-compare",
            "/compare".into(),
            "Choose two or more runs",
        ),
        (
            "empty-page-far",
            "/environments?page=999".into(),
            "page 999",
        ),
    ];
    check_pages(&chromium, &address, &pages);
}

#[test]
fn ui_refuses_a_busy_port_as_a_user_error() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let context = TestContext::new();
    let output = context.run(&["ui", "--port", &port]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output.stderr.contains("Cannot listen on `127.0.0.1:"),
        "{output}"
    );
}
