//! Tracked runs of real scripts, and the model registry.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestContext;

const TRAIN: &str = r#"
import json, os, sys
from strata import Run
run = Run.get_context()
print("args", json.dumps(sys.argv[1:]))
print("cwd", os.path.basename(os.getcwd()))
print("ids", os.environ["STRATA_RUN_ID"], os.environ["STRATA_EXPERIMENT"], os.environ.get("GREETING"))
for step in range(3):
    run.log("loss", 1.0 / (step + 1))
run.log("accuracy", 0.93)
run.log_list("curve", [0.1, 0.2])
run.tag("team", "ml")
os.makedirs("outputs/model_dir", exist_ok=True)
open("outputs/model.pkl", "w").write("weights")
open("outputs/model_dir/a.txt", "w").write("a")
print("warning: on stderr", file=sys.stderr)
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
"#;

fn setup(context: &TestContext) {
    context.write("src/train.py", TRAIN);
    context.write("src/.gitignore", "data/\n*.log\n");
    context.write("src/data/big.csv", "1,2,3\n");
    context.write("src/debug.log", "noise\n");
    context.write("src/helper.py", "X = 1\n");
}

fn last_run(context: &TestContext) -> Value {
    context.json(&["runs", "list", "--json"])[0].clone()
}

#[test]
fn a_run_records_everything_it_produces() {
    let context = TestContext::new();
    setup(&context);
    context.ok(&["env", "scaffold", "-n", "trainenv", "-d", "envdir"]);
    let json = context.read("envdir/azureml_environment.json").replace(
        "\"environmentVariables\": {}",
        "\"environmentVariables\": {\"GREETING\": \"hello\"}",
    );
    context.write("envdir/azureml_environment.json", &json);
    context.ok(&["env", "register", "-d", "envdir"]);
    let output = context.run(&[
        "run",
        "--experiment",
        "mnist",
        "--env",
        "trainenv",
        "--source-dir",
        "src",
        "train.py",
        "--lr",
        "0.1",
        "--data-folder",
        "./data",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output
            .stdout
            .contains(r#"args ["--lr", "0.1", "--data-folder", "./data"]"#),
        "{output}"
    );
    assert!(output.stderr.contains("warning: on stderr"), "{output}");
    let run = last_run(&context);
    let id = run["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("mnist_"), "{id}");
    assert!(
        output.stdout.contains(&format!("cwd {id}")),
        "the script runs in the run's directory: {output}"
    );
    assert!(
        output.stdout.contains(&format!("ids {id} mnist hello")),
        "{output}"
    );

    let show = context.json(&["runs", "show", &id, "--json"]);
    assert_eq!(show["run"]["status"], "Completed");
    assert_eq!(show["run"]["exitCode"], 0);
    assert_eq!(show["environment"]["name"], "trainenv");
    assert_eq!(show["environment"]["version"], 1);
    assert!(show["environment"]["lockHash"].is_string());
    for time in ["queuedAt", "preparingAt", "startedAt", "finishedAt"] {
        assert!(show["run"][time].is_string(), "{time}: {show}");
    }
    // The snapshot honours .gitignore.
    assert_eq!(show["snapshot"]["files"], 3, "{show}");
    let metrics: Vec<String> = show["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}={}", m["name"].as_str().unwrap(), m["value"]))
        .collect();
    assert_eq!(
        metrics,
        [
            "loss=1.0",
            "loss=0.5",
            "loss=0.3333333333333333",
            "accuracy=0.93",
            "curve=[0.1,0.2]"
        ]
    );
    assert_eq!(show["tags"]["team"], "ml");
    let outputs: Vec<&str> = show["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(outputs, ["outputs/model.pkl", "outputs/model_dir/a.txt"]);
    let logs = context.run(&["runs", "logs", &id]);
    assert!(
        logs.stdout.contains("warning: on stderr") && logs.stdout.contains("args"),
        "{logs}"
    );
    context.ok(&["runs", "download", &id, "-d", "results"]);
    assert_eq!(context.read("results/outputs/model.pkl"), "weights");
    assert!(
        context
            .read("results/logs/std_log.txt")
            .contains("accuracy")
            || context.read("results/logs/std_log.txt").contains("args")
    );
    let env = context.json(&["runs", "env", &id, "--json"]);
    assert_eq!(
        env["definition"]["environmentVariables"]["GREETING"],
        "hello"
    );

    // Models: from the run's outputs, with lineage; a new version per registration.
    let model = context.json(&[
        "model",
        "register",
        "--name",
        "mymodel",
        "--run",
        &id,
        "--path",
        "outputs/model.pkl",
        "--json",
    ]);
    assert_eq!(model["version"], 1);
    assert_eq!(model["runId"], id.as_str());
    assert_eq!(model["experiment"], "mnist");
    assert_eq!(model["envName"], "trainenv");
    assert_eq!(model["envVersion"], 1);
    assert_eq!(model["lockHash"], show["environment"]["lockHash"]);
    let dir = context.json(&[
        "model",
        "register",
        "--name",
        "mymodel",
        "--run",
        &id,
        "--path",
        "outputs/model_dir",
        "--json",
    ]);
    assert_eq!(dir["version"], 2);
    let missing = context.run(&[
        "model",
        "register",
        "--name",
        "mymodel",
        "--run",
        &id,
        "--path",
        "outputs/nope.pkl",
    ]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("Its outputs are: outputs/model.pkl, outputs/model_dir/a.txt"),
        "{missing}"
    );
    context.ok(&["model", "download", "mymodel:1", "-d", "m1"]);
    assert_eq!(context.read("m1/model.pkl"), "weights");
    context.ok(&["model", "download", "mymodel", "-d", "m2"]);
    assert_eq!(context.read("m2/model_dir/a.txt"), "a");
    context.write("local_model/weights.bin", "local");
    let local = context.json(&[
        "model",
        "register",
        "--name",
        "local",
        "--path",
        "local_model",
        "--json",
    ]);
    assert_eq!(local["runId"], Value::Null);
    let list = context.json(&["model", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let bad = context.run(&[
        "model",
        "register",
        "--name",
        "-bad",
        "--path",
        "local_model",
    ]);
    assert_eq!(bad.code, 1, "{bad}");
}

#[test]
fn a_run_without_output_says_so_and_how_to_follow_it() {
    let context = TestContext::new();
    let created = context.json(&["runs", "create", "--json"]);
    let id = created["run"]["id"].as_str().unwrap();
    let output = context.run(&["runs", "logs", id]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output.stderr.contains(&format!(
            "Run `{id}` has no output yet (Running)\nhint: Follow it with `strata runs logs {id} --follow`"
        )),
        "{output}"
    );
    context.ok(&["runs", "complete", id]);
    let ended = context.run(&["runs", "logs", id, "--follow"]);
    assert_eq!(ended.code, 1, "{ended}");
    assert!(
        ended
            .stderr
            .contains(&format!("Run `{id}` ended (Completed) without output")),
        "{ended}"
    );
}

#[test]
fn a_failing_script_keeps_its_outputs_and_exit_code() {
    let context = TestContext::new();
    setup(&context);
    let output = context.output(context.command().env("EXIT_CODE", "3").args([
        "run",
        "--source-dir",
        "src",
        "train.py",
    ]));
    assert_eq!(output.code, 3, "{output}");
    let run = last_run(&context);
    assert_eq!(run["status"], "Failed");
    assert_eq!(run["exitCode"], 3);
    assert_eq!(run["experiment"], "default");
    assert_eq!(run["envName"], "Strata-Minimal");
    let id = run["id"].as_str().unwrap();
    let show = context.json(&["runs", "show", id, "--json"]);
    assert_eq!(
        show["outputs"].as_array().unwrap().len(),
        2,
        "outputs are stored even when the script fails"
    );
}

#[test]
fn snapshots_honour_amlignore_limits_and_dedupe() {
    let context = TestContext::new();
    setup(&context);
    context.write("src/.amlignore", "helper.py\n");
    context.ok(&["run", "--source-dir", "src", "train.py"]);
    let run = last_run(&context);
    let show = context.json(&["runs", "show", run["id"].as_str().unwrap(), "--json"]);
    // .amlignore wins: .gitignore's rules no longer apply, helper.py is excluded.
    assert_eq!(show["snapshot"]["files"], 5, "{show}");
    let blobs_before = count_files(&context.path().join(".strata/blobs/sha256"));
    context.ok(&["run", "--source-dir", "src", "train.py"]);
    let second = last_run(&context);
    let second_show = context.json(&["runs", "show", second["id"].as_str().unwrap(), "--json"]);
    assert_eq!(
        second_show["snapshot"]["digest"], show["snapshot"]["digest"],
        "an unchanged directory gives the same snapshot"
    );
    // Only the new run's logs can add blobs; the snapshot adds none.
    assert!(count_files(&context.path().join(".strata/blobs/sha256")) <= blobs_before + 2);

    for index in 0..30 {
        context.write(&format!("src/many/f{index}.txt"), "x");
    }
    let output = context.run(&[
        "run",
        "--source-dir",
        "src",
        "--snapshot-max-files",
        "10",
        "train.py",
    ]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output.stderr.contains("is too large")
            && output.stderr.contains("most files in: many/ (30 files"),
        "{output}"
    );
    assert_eq!(
        context
            .json(&["runs", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing ran"
    );
    let missing = context.run(&["run", "--source-dir", "src", "nope.py"]);
    assert!(
        missing
            .stderr
            .contains("The script `nope.py` is not in the snapshot"),
        "{missing}"
    );
}

fn count_files(dir: &Path) -> usize {
    let mut count = 0;
    for entry in fs_err::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() {
            count += count_files(&entry.path());
        } else {
            count += 1;
        }
    }
    count
}

#[test]
fn anonymous_environments_from_packages() {
    let context = TestContext::new();
    context.write(
        "src/check.py",
        "import six\nprint('six', six.__version__)\n",
    );
    let output = context.run(&[
        "run",
        "--source-dir",
        "src",
        "--pip-package",
        "six==1.16.0",
        "check.py",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stdout.contains("six 1.16.0"), "{output}");
    context.write("requirements.txt", "six==1.16.0\n");
    let again = context.run(&[
        "run",
        "--source-dir",
        "src",
        "--requirements",
        "requirements.txt",
        "check.py",
    ]);
    assert_eq!(again.code, 0, "{again}");
    let runs = context.json(&["runs", "list", "--json"]);
    // The same packages make the same anonymous environment.
    assert_eq!(runs[0]["envName"], runs[1]["envName"]);
    let name = runs[0]["envName"].as_str().unwrap();
    assert!(name.starts_with("anonymous-"), "{name}");
    let listed = context.json(&["env", "list", "--json"]);
    assert!(
        listed.as_array().unwrap().iter().all(|e| e["name"] != name),
        "anonymous environments are not listed"
    );
    let all = context.json(&["env", "list", "--all", "--json"]);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == name && e["anonymous"] == true)
    );
    context.ok(&["env", "show", &format!("{name}:1")]);
}

fn wait_for(context: &TestContext, id: &str, status: &str) {
    let started = Instant::now();
    loop {
        let show = context.json(&["runs", "show", id, "--json"]);
        if show["run"]["status"] == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "run never reached {status}: {show}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const SLEEPER: &str = r#"
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open("outputs/child.pid", "w").write(str(child.pid))
print("started", flush=True)
time.sleep(300)
"#;

fn pid_alive(pid: u32) -> bool {
    fs_err::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

#[test]
fn detached_runs_can_be_waited_on_followed_and_canceled() {
    let context = TestContext::new();
    context.write("src/quick.py", "print('quick run output')\n");
    let id = context
        .ok(&["run", "--detach", "--source-dir", "src", "quick.py"])
        .trim()
        .to_string();
    let wait = context.run(&["runs", "wait", &id]);
    assert_eq!(wait.code, 0, "{wait}");
    let logs = context.ok(&["runs", "logs", &id, "--follow"]);
    assert!(logs.contains("quick run output"), "{logs}");

    context.write("src/sleep.py", SLEEPER);
    let id = context
        .ok(&[
            "run",
            "--detach",
            "--grace",
            "2",
            "--source-dir",
            "src",
            "sleep.py",
        ])
        .trim()
        .to_string();
    wait_for(&context, &id, "Running");
    let child_pid = wait_for_file(
        &context
            .path()
            .join(".strata/runs")
            .join(&id)
            .join("outputs/child.pid"),
    );
    let cancel = context.run(&["runs", "cancel", &id]);
    assert_eq!(cancel.code, 0, "{cancel}");
    assert!(cancel.stdout.contains("Canceled"), "{cancel}");
    assert!(!pid_alive(child_pid), "the whole process group is stopped");
    let wait = context.run(&["runs", "wait", &id]);
    assert_eq!(wait.code, 1);
}

fn wait_for_file(path: &Path) -> u32 {
    let started = Instant::now();
    loop {
        if let Ok(text) = fs_err::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_cancels_a_foreground_run() {
    let context = TestContext::new();
    context.write("src/sleep.py", SLEEPER);
    let child = context
        .command()
        .args(["run", "--grace", "2", "--source-dir", "src", "sleep.py"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let runs = context.path().join(".strata/runs");
    let started = Instant::now();
    let pid_file = loop {
        if let Some(dir) = fs_err::read_dir(&runs)
            .ok()
            .and_then(|mut e| e.next())
            .and_then(Result::ok)
        {
            let file = dir.path().join("outputs/child.pid");
            if file.is_file() {
                break file;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let child_pid = wait_for_file(&pid_file);
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(last_run(&context)["status"], "Canceled");
    assert!(!pid_alive(child_pid));
}

#[test]
fn a_run_whose_supervisor_is_killed_is_marked_failed() {
    let context = TestContext::new();
    context.write("src/sleep.py", SLEEPER);
    let id = context
        .ok(&["run", "--detach", "--source-dir", "src", "sleep.py"])
        .trim()
        .to_string();
    wait_for(&context, &id, "Running");
    let child_pid = wait_for_file(
        &context
            .path()
            .join(".strata/runs")
            .join(&id)
            .join("outputs/child.pid"),
    );
    let pgrep = std::process::Command::new("pgrep")
        .args(["-f", &format!("runs supervise {id}")])
        .output()
        .unwrap();
    let supervisor = String::from_utf8_lossy(&pgrep.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(!supervisor.is_empty(), "no supervisor process found");
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &supervisor])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(200));
    let show = context.json(&["runs", "show", &id, "--json"]);
    assert_eq!(show["run"]["status"], "Failed", "{show}");
    assert!(
        show["run"]["error"]
            .as_str()
            .unwrap()
            .contains("ended before the run did"),
        "{show}"
    );
    assert!(!pid_alive(child_pid), "the orphaned script is stopped");
    assert_eq!(
        show["outputs"][0]["path"], "outputs/child.pid",
        "what it left is stored"
    );
}

#[test]
fn the_strata_module_prints_outside_a_run() {
    let output = std::process::Command::new("python3")
        .args(["-c", "from strata import Run; r = Run.get_context(); print(r.id.startswith('OfflineRun_')); r.log('accuracy', 0.9)"])
        .env("PYTHONPATH", Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python"))
        .env_remove("STRATA_RUN_ID")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "True\nAttempted to log scalar metric accuracy:\n0.9\n"
    );
}

/// Issue #11, item 1: `cache gc --max-size 0` removed the prefix of a run that was executing,
/// which then died with `ModuleNotFoundError`.
#[test]
fn gc_keeps_the_prefix_of_a_running_run() {
    let context = TestContext::new();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = context.output(context.command_with_cache(cache.path()).args(args));
        assert_eq!(output.code, 0, "strata {}: {output}", args.join(" "));
        output.stdout
    };
    context.write("requirements.txt", "six==1.16.0\n");
    run(&[
        "env",
        "register",
        "--name",
        "e",
        "--requirements",
        "requirements.txt",
    ]);
    context.write(
        "src/late_import.py",
        "import os, sys, time\nprint('started', flush=True)\n\
         while not os.path.exists(sys.argv[1]):\n    time.sleep(0.05)\n\
         import six\nprint('six', six.__version__)\n",
    );
    let go = context.path().join("go");
    let id = run(&[
        "run",
        "--detach",
        "--env",
        "e",
        "--source-dir",
        "src",
        "late_import.py",
        go.to_str().unwrap(),
    ])
    .trim()
    .to_string();
    wait_for(&context, &id, "Running");

    let gc: Value =
        serde_json::from_str(&run(&["cache", "gc", "--max-size", "0", "--json"])).unwrap();
    assert_eq!(gc["removed"].as_array().unwrap().len(), 0, "{gc}");
    assert_eq!(gc["inUse"].as_array().unwrap().len(), 1, "{gc}");
    let text = run(&["cache", "gc", "--max-size", "0"]);
    assert!(text.contains("in use by a run"), "{text}");

    fs_err::write(&go, "").unwrap();
    let wait = context.output(
        context
            .command_with_cache(cache.path())
            .args(["runs", "wait", &id]),
    );
    assert_eq!(wait.code, 0, "{wait}");
    let logs = run(&["runs", "logs", &id]);
    assert!(logs.contains("six 1.16.0"), "{logs}");

    // Once the run is over, nothing holds the prefix.
    let gc: Value =
        serde_json::from_str(&run(&["cache", "gc", "--max-size", "0", "--json"])).unwrap();
    assert_eq!(gc["removed"].as_array().unwrap().len(), 1, "{gc}");
}

/// Issue #11, item 4: `runs download -d DIR` and `model download -d DIR` followed a symlinked
/// directory already inside `DIR` and wrote outside it.
#[test]
fn downloads_never_write_through_a_symlink_inside_the_target() {
    let context = TestContext::new();
    context.write(
        "src/make.py",
        "import os\nos.makedirs('outputs/sub', exist_ok=True)\nopen('outputs/sub/m.txt', 'w').write('m')\n",
    );
    let id = context
        .ok(&["run", "--detach", "--source-dir", "src", "make.py"])
        .trim()
        .to_string();
    let wait = context.run(&["runs", "wait", &id]);
    assert_eq!(wait.code, 0, "{wait}");
    let outside = context.path().join("outside");
    fs_err::create_dir_all(&outside).unwrap();

    fs_err::create_dir_all(context.path().join("dl")).unwrap();
    std::os::unix::fs::symlink(&outside, context.path().join("dl/outputs")).unwrap();
    let output = context.run(&["runs", "download", &id, "-d", "dl"]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output
            .stderr
            .contains("Refusing to write `dl/outputs`: it is a symbolic link"),
        "{output}"
    );
    assert!(
        fs_err::read_dir(&outside).unwrap().next().is_none(),
        "nothing written outside"
    );

    context.ok(&[
        "model", "register", "--name", "m", "--run", &id, "--path", "outputs",
    ]);
    fs_err::create_dir_all(context.path().join("md")).unwrap();
    std::os::unix::fs::symlink(&outside, context.path().join("md/sub")).unwrap();
    let output = context.run(&["model", "download", "m", "-d", "md"]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output
            .stderr
            .contains("Refusing to write `md/sub`: it is a symbolic link"),
        "{output}"
    );
    assert!(
        fs_err::read_dir(&outside).unwrap().next().is_none(),
        "nothing written outside"
    );
    // A link as the last component is refused too, and the user's own target may be a link.
    fs_err::remove_file(context.path().join("md/sub")).unwrap();
    fs_err::create_dir_all(context.path().join("md/sub")).unwrap();
    std::os::unix::fs::symlink(outside.join("m.txt"), context.path().join("md/sub/m.txt")).unwrap();
    let output = context.run(&["model", "download", "m", "-d", "md"]);
    assert_eq!(output.code, 1, "{output}");
    assert!(!outside.join("m.txt").exists());
    std::os::unix::fs::symlink(&outside, context.path().join("link")).unwrap();
    let said = context.ok(&["model", "download", "m", "-d", "link"]);
    // Issue #11, item 22: one file is "1 file".
    assert_eq!(said.trim(), "Downloaded 1 file of model m:1 to link");
    assert_eq!(
        fs_err::read_to_string(outside.join("sub/m.txt")).unwrap(),
        "m"
    );
}
