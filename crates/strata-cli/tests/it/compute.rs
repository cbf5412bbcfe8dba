//! Runs on a Slurm target, against a real single-node cluster (`scripts/slurm-test-cluster`,
//! started by `scripts/test`, which sets `STRATA_TEST_SLURM`), through Slurm's commands and
//! through its slurmrestd. Without one these tests fail when `CI=true` and say they were
//! skipped otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestContext;

/// Fails in CI, says the test was skipped otherwise.
fn skip(message: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    #[allow(clippy::print_stderr)] // A skip says so, in the test output.
    {
        eprintln!("skipped: {message}");
    }
}

/// The cluster's `slurm.conf`, or `None` (with a message) when there is none outside CI.
pub(crate) fn slurm_conf() -> Option<PathBuf> {
    let dir = std::env::var_os("STRATA_TEST_SLURM").map(PathBuf::from);
    let conf = dir.as_ref().map(|d| d.join("slurm.conf"));
    match conf {
        Some(conf) if conf.is_file() => Some(conf),
        _ => {
            skip(
                "no Slurm test cluster: run `scripts/slurm-test-cluster start DIR` and set STRATA_TEST_SLURM=DIR (scripts/test does both)",
            );
            None
        }
    }
}

/// The cluster's slurmrestd: the URL the cluster script wrote beside its configuration, else
/// `STRATA_TEST_SLURMRESTD` (a cluster started otherwise).
fn slurmrestd_url(conf: &Path) -> Option<String> {
    let written = conf.parent().map(|d| d.join("slurmrestd.url"));
    let url = written
        .and_then(|f| fs_err::read_to_string(f).ok())
        .or_else(|| std::env::var("STRATA_TEST_SLURMRESTD").ok())
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    if url.is_none() {
        skip(
            "the Slurm test cluster has no slurmrestd: restart it with this checkout's `scripts/slurm-test-cluster` (it writes DIR/slurmrestd.url)",
        );
    }
    url
}

/// A workspace with `trainenv` registered and a Slurm target `hpc` whose node cache is
/// private to the test.
struct Cluster {
    context: TestContext,
    conf: PathBuf,
    /// The slurmrestd URL `hpc` was attached with, if it goes through REST.
    rest: Option<String>,
}

impl Cluster {
    fn new(attach: &[&str]) -> Option<Self> {
        let conf = slurm_conf()?;
        Some(Self::attached(conf, None, attach))
    }

    /// `hpc` attached through the cluster's slurmrestd.
    fn rest(attach: &[&str]) -> Option<Self> {
        let conf = slurm_conf()?;
        let url = slurmrestd_url(&conf)?;
        let mut args = vec!["--rest-url", url.as_str()];
        args.extend_from_slice(attach);
        let args: Vec<String> = args.into_iter().map(str::to_string).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Some(Self::attached(conf, Some(url.clone()), &args))
    }

    fn attached(conf: PathBuf, rest: Option<String>, attach: &[&str]) -> Self {
        let cluster = Self {
            context: TestContext::new(),
            conf,
            rest,
        };
        cluster
            .context
            .ok(&["env", "scaffold", "-n", "trainenv", "-d", "envdir"]);
        cluster.context.ok(&["env", "register", "-d", "envdir"]);
        let node_cache = cluster.node_cache();
        let mut args = vec![
            "compute",
            "attach",
            "hpc",
            "--slurm",
            "--node-cache",
            node_cache.to_str().unwrap(),
        ];
        args.extend_from_slice(attach);
        let output = cluster.run(&args);
        assert_eq!(output.code, 0, "{output}");
        cluster
    }

    /// A configuration naming a controller port nothing listens on: Slurm's commands fail
    /// with it, so a run that works with it went through slurmrestd.
    fn dead_conf(&self) -> PathBuf {
        let dead = self.context.path().join("dead.conf");
        let conf = fs_err::read_to_string(&self.conf).unwrap();
        let conf: String = conf
            .lines()
            .map(|l| {
                if l.starts_with("SlurmctldPort=") {
                    "SlurmctldPort=1".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        fs_err::write(&dead, conf).unwrap();
        dead
    }

    /// A token from the cluster, as a user would put it in `SLURM_JWT`.
    fn token(&self) -> String {
        let output = Command::new("scontrol")
            .env("SLURM_CONF", &self.conf)
            .arg("token")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .strip_prefix("SLURM_JWT=")
            .expect("scontrol token prints SLURM_JWT=...")
            .to_string()
    }

    fn node_cache(&self) -> PathBuf {
        self.context.path().join("node-cache")
    }

    fn command(&self) -> Command {
        let mut command = self.context.command();
        command.env("SLURM_CONF", &self.conf);
        command
    }

    fn run(&self, args: &[&str]) -> crate::common::Output {
        self.context.output(self.command().args(args))
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(output.code, 0, "{output}");
        output.stdout
    }

    fn show(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["runs", "show", id, "--json"])).unwrap()
    }

    /// Submits detached; returns the run id.
    fn submit(&self, extra: &[&str], script: &str) -> String {
        let mut args = vec![
            "run",
            "--detach",
            "--target",
            "hpc",
            "--env",
            "trainenv",
            "--memory",
            "200M",
            "--source-dir",
            "src",
        ];
        args.extend_from_slice(extra);
        args.push(script);
        self.ok(&args).trim().to_string()
    }

    fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let show = self.show(id);
            if done(&show) {
                return show;
            }
            assert!(
                started.elapsed() < limit,
                "run {id} never got there: {show}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_finished(&self, id: &str, limit: Duration) -> Value {
        self.wait_for(
            id,
            |s| {
                matches!(
                    s["run"]["status"].as_str(),
                    Some("Completed" | "Failed" | "Canceled")
                )
            },
            limit,
        )
    }

    fn run_dir(&self, id: &str) -> PathBuf {
        self.context.path().join(".strata/runs").join(id)
    }

    fn materialized(&self, id: &str) -> Value {
        let text = fs_err::read_to_string(self.run_dir(id).join(".strata-run/materialize.json"))
            .expect("the job step records how it got the environment");
        serde_json::from_str(&text).unwrap()
    }

    fn squeue_knows(&self, job: &str) -> bool {
        let output = Command::new("squeue")
            .env("SLURM_CONF", &self.conf)
            .args(["-h", "-j", job, "-o", "%T"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        output.status.success()
            && text
                .lines()
                .any(|l| matches!(l.trim(), "PENDING" | "RUNNING"))
    }
}

const TRAIN: &str = r#"
import os, sys
from strata import Run
run = Run.get_context()
print("job", os.environ.get("SLURM_JOB_ID"), "args", sys.argv[1:], flush=True)
print("python", sys.executable, flush=True)
print("token in the job", "SLURM_JWT" in os.environ, flush=True)
for step in range(3):
    run.log("loss", 1.0 / (step + 1))
run.tag("cluster", "test")
os.makedirs("outputs", exist_ok=True)
open("outputs/model.pkl", "w").write("weights")
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
"#;

const SLOW: &str = r#"
import time
for i in range(100000):
    print("tick", i, flush=True)
    time.sleep(0.2)
"#;

#[test]
fn a_completed_slurm_run_has_its_job_metrics_and_outputs() {
    let Some(cluster) = Cluster::new(&[]) else {
        return;
    };
    cluster.context.write("src/train.py", TRAIN);
    let output = cluster.run(&[
        "run",
        "--target",
        "hpc",
        "--env",
        "trainenv",
        "--cpus",
        "1",
        "--memory",
        "200M",
        "--time",
        "5m",
        "--source-dir",
        "src",
        "train.py",
        "--lr",
        "0.1",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stderr.contains("Submitted Slurm job"), "{output}");
    // The script's output came back while the job ran.
    assert!(output.stdout.contains("args ['--lr', '0.1']"), "{output}");
    let runs: Value = serde_json::from_str(&cluster.ok(&["runs", "list", "--json"])).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let show = cluster.show(&id);
    assert_eq!(show["run"]["status"], "Completed", "{show}");
    assert_eq!(show["run"]["exitCode"], 0);
    assert_eq!(show["run"]["target"], "hpc");
    let job = &show["job"];
    let job_id = job["jobId"].as_str().unwrap();
    assert!(
        output.stdout.contains(&format!("job {job_id} ")),
        "{output}"
    );
    assert_eq!(job["state"], "COMPLETED");
    assert_eq!(job["partition"], "debug");
    assert!(job["node"].as_str().is_some_and(|n| !n.is_empty()), "{job}");
    assert_eq!(job["resources"]["cpus"], 1);
    assert_eq!(job["resources"]["memory"], "200M");
    let losses: Vec<_> = show["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == "loss")
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 3, "{show}");
    assert_eq!(show["tags"]["cluster"], "test");
    assert_eq!(show["outputs"][0]["path"], "outputs/model.pkl");
    // The interpreter is the pack materialized into the node's cache, not the build cache.
    // (Output shows the test's directory as `[TEMP]`.)
    assert!(
        output.stdout.contains("python [TEMP]/node-cache/envs/"),
        "{output}"
    );
    assert_eq!(cluster.materialized(&id)["reused"], false);
    let download = cluster.context.path().join("dl");
    cluster.ok(&["runs", "download", &id, "-d", download.to_str().unwrap()]);
    assert!(
        fs_err::read_to_string(download.join("outputs/model.pkl")).is_ok_and(|t| t == "weights")
    );
}

#[test]
fn a_failing_script_on_slurm_keeps_its_exit_code() {
    let Some(cluster) = Cluster::new(&[]) else {
        return;
    };
    cluster.context.write("src/train.py", TRAIN);
    let output = cluster
        .context
        .output(cluster.command().env("EXIT_CODE", "3").args([
            "run",
            "--target",
            "hpc",
            "--env",
            "trainenv",
            "--memory",
            "200M",
            "--source-dir",
            "src",
            "train.py",
        ]));
    assert_eq!(output.code, 3, "{output}");
    let runs: Value = serde_json::from_str(&cluster.ok(&["runs", "list", "--json"])).unwrap();
    let show = cluster.show(runs[0]["id"].as_str().unwrap());
    assert_eq!(show["run"]["status"], "Failed");
    assert_eq!(show["run"]["exitCode"], 3);
    assert!(
        show["run"]["error"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{show}"
    );
    assert_eq!(show["job"]["state"], "FAILED");
    // What it logged before failing is kept.
    assert_eq!(show["outputs"][0]["path"], "outputs/model.pkl");
}

#[test]
fn a_detached_slurm_run_is_followed_live_and_canceled_with_scancel() {
    let Some(cluster) = Cluster::new(&[]) else {
        return;
    };
    cluster.context.write("src/slow.py", SLOW);
    let started = Instant::now();
    let id = cluster.submit(&[], "slow.py");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a detached submit returns at once"
    );
    let show = cluster.wait_for(
        &id,
        |s| s["run"]["status"] == "Running",
        Duration::from_secs(60),
    );
    let job_id = show["job"]["jobId"].as_str().unwrap().to_string();
    // Live output while the job runs.
    let log = cluster.run_dir(&id).join("logs/std_log.txt");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fs_err::read_to_string(&log).is_ok_and(|t| t.contains("tick 2")) {
        assert!(Instant::now() < deadline, "no output from the running job");
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs = cluster.ok(&["runs", "logs", &id]);
    assert!(logs.contains("tick 0"), "{logs}");
    assert!(cluster.squeue_knows(&job_id));
    let cancel = cluster.run(&["runs", "cancel", &id]);
    assert_eq!(cancel.code, 0, "{cancel}");
    assert!(cancel.stdout.contains("Canceled"), "{cancel}");
    let show = cluster.show(&id);
    assert_eq!(show["run"]["status"], "Canceled", "{show}");
    assert_eq!(show["job"]["state"], "CANCELLED");
    assert!(!cluster.squeue_knows(&job_id), "scancel ended the job");
    // `--follow` on an ended run prints what it wrote and returns.
    let followed = cluster.ok(&["runs", "logs", &id, "--follow"]);
    assert!(followed.contains("tick 1"), "{followed}");
}

#[test]
fn ctrl_c_on_an_attached_slurm_run_cancels_the_job() {
    let Some(cluster) = Cluster::new(&[]) else {
        return;
    };
    cluster.context.write("src/slow.py", SLOW);
    let child = cluster
        .command()
        .args([
            "run",
            "--target",
            "hpc",
            "--env",
            "trainenv",
            "--memory",
            "200M",
            "--source-dir",
            "src",
            "slow.py",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let runs_dir = cluster.context.path().join(".strata/runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let found = fs_err::read_dir(&runs_dir)
            .ok()
            .and_then(|mut e| e.next())
            .and_then(Result::ok);
        if let Some(entry) = found
            && fs_err::read_to_string(entry.path().join("logs/std_log.txt"))
                .is_ok_and(|t| t.contains("tick 1"))
        {
            break entry.file_name().to_string_lossy().into_owned();
        }
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        Command::new("kill")
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
    let show = cluster.show(&id);
    assert_eq!(show["run"]["status"], "Canceled", "{show}");
    assert!(!cluster.squeue_knows(show["job"]["jobId"].as_str().unwrap()));
}

#[test]
fn a_job_killed_under_the_run_ends_failed_with_slurms_reason() {
    let Some(cluster) = Cluster::new(&[]) else {
        return;
    };
    cluster.context.write("src/slow.py", SLOW);
    let id = cluster.submit(&[], "slow.py");
    let show = cluster.wait_for(
        &id,
        |s| s["run"]["status"] == "Running",
        Duration::from_secs(60),
    );
    let job_id = show["job"]["jobId"].as_str().unwrap().to_string();
    let status = Command::new("scancel")
        .env("SLURM_CONF", &cluster.conf)
        .args(["--signal=KILL", "--full", &job_id])
        .status()
        .unwrap();
    assert!(status.success());
    let show = cluster.wait_finished(&id, Duration::from_secs(60));
    assert_eq!(show["run"]["status"], "Failed", "{show}");
    let error = show["run"]["error"].as_str().unwrap();
    assert!(
        error.contains("CANCELLED") && error.contains("outside Strata"),
        "{error}"
    );
}

#[test]
fn a_job_past_its_time_limit_ends_failed_with_timeout() {
    let Some(cluster) = Cluster::new(&[]) else {
        return;
    };
    cluster.context.write("src/slow.py", SLOW);
    // Slurm's limits are in whole minutes.
    let id = cluster.submit(&["--time", "1m"], "slow.py");
    let show = cluster.wait_finished(&id, Duration::from_secs(180));
    assert_eq!(show["run"]["status"], "Failed", "{show}");
    assert_eq!(show["job"]["state"], "TIMEOUT");
    let error = show["run"]["error"].as_str().unwrap();
    assert!(
        error.contains("TIMEOUT") && error.contains("time limit"),
        "{error}"
    );
    assert!(cluster.ok(&["runs", "logs", &id]).contains("tick 1"));
}

#[test]
fn concurrent_runs_of_one_environment_share_one_pack_and_one_materialization() {
    let Some(cluster) = Cluster::new(&[]) else {
        return;
    };
    cluster.context.write("src/train.py", TRAIN);
    // Built first, so both submissions race for the pack and the node's cache, not the build.
    cluster.ok(&["env", "build", "trainenv"]);
    let children: Vec<_> = (0..2)
        .map(|_| {
            cluster
                .command()
                .args([
                    "run",
                    "--target",
                    "hpc",
                    "--env",
                    "trainenv",
                    "--memory",
                    "200M",
                    "--cpus",
                    "1",
                    "--source-dir",
                    "src",
                    "train.py",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let runs: Value = serde_json::from_str(&cluster.ok(&["runs", "list", "--json"])).unwrap();
    let ids: Vec<String> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let records: Vec<Value> = ids.iter().map(|id| cluster.materialized(id)).collect();
    let fresh = records.iter().filter(|r| r["reused"] == false).count();
    assert_eq!(fresh, 1, "one materialization on the node: {records:?}");
    assert_eq!(records[0]["prefix"], records[1]["prefix"]);
    let specs: Vec<Value> = ids
        .iter()
        .map(|id| {
            serde_json::from_str(
                &fs_err::read_to_string(cluster.run_dir(id).join(".strata-run/job.json")).unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(specs[0]["env"]["path"], specs[1]["env"]["path"], "one pack");
    assert!(
        specs[0]["env"]["path"]
            .as_str()
            .unwrap()
            .contains("/.strata/blobs/"),
        "kept in the blobs"
    );
    let envs = fs_err::read_dir(cluster.node_cache().join("envs"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(envs, 1);
}

const NETWORK_PROBE: &str = r#"
import os, socket, sys
try:
    socket.create_connection(("1.1.1.1", 443), timeout=3)
    print("network: reachable")
    sys.exit(1)
except OSError as error:
    print("network: unreachable", error)
interfaces = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
print("interfaces", interfaces)
sys.exit(0 if interfaces == ["lo"] else 2)
"#;

#[test]
fn the_job_step_materializes_and_runs_with_no_network() {
    // The whole job step (unpacking the pack into the node's empty cache, then the script)
    // runs in a network namespace with nothing but a down loopback, with the proxies pointing
    // nowhere and uv told to stay offline.
    let Some(cluster) = Cluster::new(&["--launcher", "unshare --net"]) else {
        return;
    };
    cluster.context.write("src/probe.py", NETWORK_PROBE);
    let output = cluster.context.output(
        cluster
            .command()
            .env("UV_OFFLINE", "1")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .args([
                "run",
                "--target",
                "hpc",
                "--env",
                "trainenv",
                "--memory",
                "200M",
                "--source-dir",
                "src",
                "probe.py",
            ]),
    );
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stdout.contains("network: unreachable"), "{output}");
    assert!(output.stdout.contains("interfaces ['lo']"), "{output}");
    let runs: Value = serde_json::from_str(&cluster.ok(&["runs", "list", "--json"])).unwrap();
    let record = cluster.materialized(runs[0]["id"].as_str().unwrap());
    assert_eq!(record["source"], "pack");
    assert_eq!(
        record["reused"], false,
        "materialized inside the offline step"
    );
}

#[test]
fn targets_are_listed_shown_and_detached_and_bad_ones_refused_before_submitting() {
    let Some(cluster) = Cluster::new(&["--account", "ml", "--qos", "normal"]) else {
        return;
    };
    let list: Value = serde_json::from_str(&cluster.ok(&["compute", "list", "--json"])).unwrap();
    let names: Vec<_> = list["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "container", "hpc"]);
    let show: Value =
        serde_json::from_str(&cluster.ok(&["compute", "show", "hpc", "--json"])).unwrap();
    assert_eq!(show["target"]["kind"], "slurm");
    assert_eq!(show["target"]["settings"]["account"], "ml");
    assert_eq!(show["target"]["settings"]["qos"], "normal");

    // A partition the cluster lacks.
    let missing = cluster.run(&["compute", "attach", "gpu", "--slurm", "--partition", "nope"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(
        missing
            .stderr
            .contains("Slurm has no partition `nope` (it has: debug)"),
        "{missing}"
    );
    assert!(!cluster.ok(&["compute", "list"]).contains("gpu"));

    // A scheduler that does not answer.
    let dead = cluster.dead_conf();
    let unreachable = cluster.context.output(
        cluster
            .command()
            .env("SLURM_CONF", &dead)
            .args(["compute", "attach", "down", "--slurm"]),
    );
    assert_eq!(unreachable.code, 1, "{unreachable}");
    assert!(
        unreachable.stderr.contains("does not answer"),
        "{unreachable}"
    );
    cluster.context.write("src/train.py", TRAIN);
    let refused = cluster
        .context
        .output(cluster.command().env("SLURM_CONF", &dead).args([
            "run",
            "--target",
            "hpc",
            "--env",
            "trainenv",
            "--source-dir",
            "src",
            "train.py",
        ]));
    assert_eq!(refused.code, 1, "{refused}");

    // An unknown target, and resources for a local run.
    let unknown = cluster.run(&["run", "--target", "nope", "--source-dir", "src", "train.py"]);
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(
        unknown.stderr.contains("Compute target `nope`"),
        "{unknown}"
    );
    let local = cluster.run(&["run", "--cpus", "2", "--source-dir", "src", "train.py"]);
    assert_eq!(local.code, 1, "{local}");
    let bad_time = cluster.run(&[
        "run",
        "--target",
        "hpc",
        "--time",
        "2 hours",
        "--source-dir",
        "src",
        "train.py",
    ]);
    assert_eq!(bad_time.code, 1, "{bad_time}");
    assert!(
        bad_time.stderr.contains("Invalid time limit `2 hours`"),
        "{bad_time}"
    );
    let runs: Value = serde_json::from_str(&cluster.ok(&["runs", "list", "--json"])).unwrap();
    assert_eq!(
        runs.as_array().unwrap().len(),
        0,
        "nothing was recorded: {runs}"
    );

    let detach = cluster.run(&["compute", "detach", "local"]);
    assert_eq!(detach.code, 1, "{detach}");
    cluster.ok(&["compute", "detach", "hpc"]);
    assert!(!cluster.ok(&["compute", "list"]).contains("hpc"));
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else if fs_err::read(&path).is_ok_and(|bytes| {
                bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            }) {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_completed_run_through_slurmrestd_has_its_job_metrics_and_outputs() {
    let Some(cluster) = Cluster::rest(&[]) else {
        return;
    };
    let show: Value =
        serde_json::from_str(&cluster.ok(&["compute", "show", "hpc", "--json"])).unwrap();
    assert_eq!(
        show["target"]["settings"]["rest"],
        serde_json::json!({"url": cluster.rest.as_deref().unwrap(), "apiVersion": "v0.0.38"})
    );
    cluster.context.write("src/train.py", TRAIN);
    // With Slurm's commands pointed at a controller that is not there and the token given
    // in SLURM_JWT, only slurmrestd can have taken the job.
    let token = cluster.token();
    let output = cluster.context.output(
        cluster
            .command()
            .env("SLURM_CONF", cluster.dead_conf())
            .env("SLURM_JWT", &token)
            .args([
                "run",
                "--target",
                "hpc",
                "--env",
                "trainenv",
                "--cpus",
                "1",
                "--memory",
                "200M",
                "--time",
                "5m",
                "--source-dir",
                "src",
                "train.py",
                "--lr",
                "0.1",
            ]),
    );
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stderr.contains("Submitted Slurm job"), "{output}");
    assert!(output.stdout.contains("args ['--lr', '0.1']"), "{output}");
    assert!(output.stdout.contains("token in the job False"), "{output}");
    let runs: Value = serde_json::from_str(&cluster.ok(&["runs", "list", "--json"])).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let show = cluster.show(&id);
    assert_eq!(show["run"]["status"], "Completed", "{show}");
    assert_eq!(show["run"]["exitCode"], 0);
    let job = &show["job"];
    let job_id = job["jobId"].as_str().unwrap();
    assert!(
        output.stdout.contains(&format!("job {job_id} ")),
        "{output}"
    );
    assert_eq!(job["state"], "COMPLETED");
    assert_eq!(job["partition"], "debug");
    assert!(job["node"].as_str().is_some_and(|n| !n.is_empty()), "{job}");
    assert_eq!(job["resources"]["memory"], "200M");
    // What the job was given, as Slurm recorded it: 200 MB, 5 minutes, 1 CPU.
    let scontrol = Command::new("scontrol")
        .env("SLURM_CONF", &cluster.conf)
        .args(["show", "job", "-o", job_id])
        .output()
        .unwrap();
    let scontrol = String::from_utf8_lossy(&scontrol.stdout);
    assert!(scontrol.contains("TimeLimit=00:05:00"), "{scontrol}");
    assert!(scontrol.contains("MinMemoryNode=200M"), "{scontrol}");
    assert!(
        scontrol.contains(&format!("JobName=strata-{id}")),
        "{scontrol}"
    );
    let losses = show["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == "loss")
        .count();
    assert_eq!(losses, 3, "{show}");
    assert_eq!(show["tags"]["cluster"], "test");
    assert_eq!(show["outputs"][0]["path"], "outputs/model.pkl");
    assert!(
        output.stdout.contains("python [TEMP]/node-cache/envs/"),
        "{output}"
    );
    // The token is in no record, job file or log of the workspace.
    assert_eq!(
        files_holding(&cluster.context.path().join(".strata"), &token),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_failing_script_through_slurmrestd_keeps_its_exit_code() {
    let Some(cluster) = Cluster::rest(&[]) else {
        return;
    };
    cluster.context.write("src/train.py", TRAIN);
    // The token comes from `scontrol token` here; EXIT_CODE reaches the job as with sbatch.
    let output = cluster
        .context
        .output(cluster.command().env("EXIT_CODE", "3").args([
            "run",
            "--target",
            "hpc",
            "--env",
            "trainenv",
            "--memory",
            "200M",
            "--source-dir",
            "src",
            "train.py",
        ]));
    assert_eq!(output.code, 3, "{output}");
    let runs: Value = serde_json::from_str(&cluster.ok(&["runs", "list", "--json"])).unwrap();
    let show = cluster.show(runs[0]["id"].as_str().unwrap());
    assert_eq!(show["run"]["status"], "Failed");
    assert_eq!(show["run"]["exitCode"], 3);
    assert!(
        show["run"]["error"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{show}"
    );
    assert_eq!(show["job"]["state"], "FAILED");
    assert_eq!(show["outputs"][0]["path"], "outputs/model.pkl");
}

#[test]
fn a_detached_run_through_slurmrestd_is_canceled_over_rest() {
    let Some(cluster) = Cluster::rest(&[]) else {
        return;
    };
    cluster.context.write("src/slow.py", SLOW);
    let started = Instant::now();
    let id = cluster.submit(&[], "slow.py");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a detached submit returns at once"
    );
    let show = cluster.wait_for(
        &id,
        |s| s["run"]["status"] == "Running",
        Duration::from_secs(60),
    );
    let job_id = show["job"]["jobId"].as_str().unwrap().to_string();
    let log = cluster.run_dir(&id).join("logs/std_log.txt");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fs_err::read_to_string(&log).is_ok_and(|t| t.contains("tick 2")) {
        assert!(Instant::now() < deadline, "no output from the running job");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(cluster.squeue_knows(&job_id));
    let cancel = cluster.run(&["runs", "cancel", &id]);
    assert_eq!(cancel.code, 0, "{cancel}");
    let show = cluster.show(&id);
    assert_eq!(show["run"]["status"], "Canceled", "{show}");
    assert_eq!(show["run"]["error"], "Canceled (slurmrestd)", "{show}");
    assert_eq!(show["job"]["state"], "CANCELLED");
    assert!(!cluster.squeue_knows(&job_id), "DELETE ended the job");
}

#[test]
fn a_target_on_slurmrestd_api_v0_0_37_runs_too() {
    let Some(cluster) = Cluster::rest(&["--rest-api-version", "v0.0.37"]) else {
        return;
    };
    cluster.context.write("src/train.py", TRAIN);
    let output = cluster.run(&[
        "run",
        "--target",
        "hpc",
        "--env",
        "trainenv",
        "--memory",
        "200M",
        "--source-dir",
        "src",
        "train.py",
    ]);
    assert_eq!(output.code, 0, "{output}");
    let runs: Value = serde_json::from_str(&cluster.ok(&["runs", "list", "--json"])).unwrap();
    let show = cluster.show(runs[0]["id"].as_str().unwrap());
    assert_eq!(show["job"]["state"], "COMPLETED", "{show}");
    assert_eq!(show["job"]["partition"], "debug");
}

#[test]
fn slurmrestd_with_a_bad_token_or_unreachable_url_is_refused_before_submitting() {
    let Some(cluster) = Cluster::rest(&[]) else {
        return;
    };
    let url = cluster.rest.clone().unwrap();
    let attach = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = cluster.command();
        for (key, value) in env {
            command.env(key, value);
        }
        let mut all = vec!["compute", "attach", "other", "--slurm"];
        all.extend_from_slice(args);
        cluster.context.output(command.args(all))
    };
    // Slurm 22.05 answers a bad token with HTTP 500: the message says what that means.
    let bad = attach(&[("SLURM_JWT", "not-a-token")], &["--rest-url", &url]);
    assert_eq!(bad.code, 1, "{bad}");
    assert!(bad.stderr.contains("HTTP 500"), "{bad}");
    assert!(bad.stderr.contains("bad or expired"), "{bad}");
    assert!(
        !bad.stderr.contains("not-a-token"),
        "the token is never shown: {bad}"
    );
    // An expired token is refused before asking anything (header.payload.signature; exp=1).
    let expired = attach(
        &[(
            "SLURM_JWT",
            "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjEsInN1biI6InJvb3QifQ.c2ln",
        )],
        &["--rest-url", &url],
    );
    assert_eq!(expired.code, 1, "{expired}");
    assert!(
        expired
            .stderr
            .contains("The Slurm token in `SLURM_JWT` expired"),
        "{expired}"
    );
    // No token at all: no SLURM_JWT and no `scontrol` to ask.
    let empty = cluster.context.path().join("empty-bin");
    fs_err::create_dir_all(&empty).unwrap();
    let none = attach(
        &[("PATH", empty.to_str().unwrap()), ("SLURM_JWT", "")],
        &["--rest-url", &url],
    );
    assert_eq!(none.code, 1, "{none}");
    assert!(none.stderr.contains("No Slurm token"), "{none}");
    assert!(none.stderr.contains("`scontrol` is not on PATH"), "{none}");
    // Nothing listens there.
    let unreachable = attach(&[], &["--rest-url", "http://127.0.0.1:1"]);
    assert_eq!(unreachable.code, 1, "{unreachable}");
    assert!(
        unreachable
            .stderr
            .contains("The Slurm REST API at `http://127.0.0.1:1` does not answer"),
        "{unreachable}"
    );
    // Settings that cannot work: an API version Strata does not speak, a token in the URL,
    // a partition the cluster lacks.
    let version = attach(&[], &["--rest-url", &url, "--rest-api-version", "v0.0.40"]);
    assert_eq!(version.code, 1, "{version}");
    assert!(version.stderr.contains("`v0.0.40`"), "{version}");
    let in_url = attach(&[], &["--rest-url", &format!("{url}/?token=x")]);
    assert_eq!(in_url.code, 1, "{in_url}");
    assert!(in_url.stderr.contains("never in a URL"), "{in_url}");
    let partition = attach(&[], &["--rest-url", &url, "--partition", "nope"]);
    assert_eq!(partition.code, 1, "{partition}");
    assert!(
        partition
            .stderr
            .contains("Slurm has no partition `nope` (it has: debug)"),
        "{partition}"
    );
    assert!(!cluster.ok(&["compute", "list"]).contains("other"));

    // A run on the attached target with a bad token is refused, and nothing is recorded.
    cluster.context.write("src/train.py", TRAIN);
    let refused = cluster
        .context
        .output(cluster.command().env("SLURM_JWT", "not-a-token").args([
            "run",
            "--target",
            "hpc",
            "--env",
            "trainenv",
            "--source-dir",
            "src",
            "train.py",
        ]));
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("HTTP 500"), "{refused}");
    let runs: Value = serde_json::from_str(&cluster.ok(&["runs", "list", "--json"])).unwrap();
    assert_eq!(
        runs.as_array().unwrap().len(),
        0,
        "nothing was recorded: {runs}"
    );
}

/// A detached run whose supervisor is killed: the next command that opens the workspace
/// cancels its job (with `how`) and ends the run Failed saying so.
fn a_dead_supervisor_cancels_its_job(cluster: &Cluster, how: &str) {
    cluster.context.write("src/slow.py", SLOW);
    let id = cluster.submit(&[], "slow.py");
    let show = cluster.wait_for(
        &id,
        |s| s["run"]["status"] == "Running",
        Duration::from_secs(60),
    );
    let job_id = show["job"]["jobId"].as_str().unwrap().to_string();
    assert!(cluster.squeue_knows(&job_id));
    let pgrep = Command::new("pgrep")
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
        Command::new("kill")
            .args(["-KILL", &supervisor])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    let show = cluster.show(&id);
    assert_eq!(show["run"]["status"], "Failed", "{show}");
    let error = show["run"]["error"].as_str().unwrap();
    assert!(error.contains("ended before the run did"), "{error}");
    assert!(
        error.contains(&format!("its Slurm job {job_id} was canceled ({how})")),
        "{error}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.squeue_knows(&job_id) {
        assert!(Instant::now() < deadline, "the orphaned job goes on");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_dead_detached_supervisor_does_not_leave_its_slurm_job_running() {
    let Some(cluster) = Cluster::new(&[]) else {
        return;
    };
    a_dead_supervisor_cancels_its_job(&cluster, "scancel");
}

#[test]
fn a_dead_detached_supervisor_does_not_leave_its_slurmrestd_job_running() {
    let Some(cluster) = Cluster::rest(&[]) else {
        return;
    };
    a_dead_supervisor_cancels_its_job(&cluster, "slurmrestd");
}
