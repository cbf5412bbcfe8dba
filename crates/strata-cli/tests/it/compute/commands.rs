//! Runs on a Slurm target through Slurm's commands (`sbatch`, `scontrol`, `sacct`,
//! `scancel`): their life, their environment on the node, and the target records.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Cluster, SLOW, TRAIN};

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
