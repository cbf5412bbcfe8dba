//! Runs on a Slurm target through slurmrestd: the same runs over HTTP, its API versions, and
//! bad tokens or URLs refused before anything is submitted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Cluster, SLOW, TRAIN};

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
