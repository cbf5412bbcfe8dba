//! Compute targets of a server workspace: attached by an owner for the whole team, listed by
//! everyone, and a run sent to the Slurm one from a teammate's machine, reported to the
//! server while its job runs.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Team;

const TRAIN: &str = r#"
import os
from strata import Run
run = Run.get_context()
print("job", os.environ.get("SLURM_JOB_ID"), flush=True)
for step in range(3):
    run.log("loss", 1.0 / (step + 1))
os.makedirs("outputs", exist_ok=True)
open("outputs/model.pkl", "w").write("weights")
"#;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[test]
fn a_teams_slurm_target_runs_a_teammates_run_reported_to_the_server() {
    let Some(conf) = crate::compute::slurm_conf() else {
        return;
    };
    let Some(team) = Team::new("targets") else {
        return;
    };
    let conf = conf.to_str().unwrap();
    let slurm = |token: &str, cache: &str, args: &[&str]| {
        let mut command = team.as_user(token, cache);
        command.env("SLURM_CONF", conf).args(args);
        team.context.output(&mut command)
    };
    let owner = team.token("olga", "owner");
    let node_cache = team.context.path().join("node-cache");
    let attach = [
        "compute",
        "attach",
        "hpc",
        "--slurm",
        "--node-cache",
        node_cache.to_str().unwrap(),
    ];

    // Attaching compute is the owner's, as in Azure ML; a contributor is refused.
    let refused = slurm(&team.alice, "alice", &attach);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("owner"), "{refused}");
    let attached = slurm(&owner, "olga", &attach);
    assert_eq!(attached.code, 0, "{attached}");
    let taken = slurm(&owner, "olga", &attach);
    assert_eq!(taken.code, 1, "{taken}");
    assert!(taken.stderr.contains("already exists"), "{taken}");

    // Everyone sees it, beside the built-in ones.
    let listed = json(&team.ok(&team.bob, "bob", &["compute", "list", "--json"]));
    let names: Vec<&str> = listed["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "container", "hpc"], "{listed}");
    let shown = json(&team.ok(&team.bob, "bob", &["compute", "show", "hpc", "--json"]));
    assert_eq!(shown["target"]["kind"], "slurm", "{shown}");
    // The test's output shows its temporary directory as `[TEMP]`.
    assert_eq!(
        shown["target"]["settings"]["nodeCache"], "[TEMP]/node-cache",
        "{shown}"
    );

    // Alice sends a run there from her machine; Bob follows it on the server.
    team.context.write("src/train.py", TRAIN);
    team.context
        .ok(&["env", "scaffold", "-n", "trainenv", "-d", "envdir"]);
    team.ok(&team.alice, "alice", &["env", "register", "-d", "envdir"]);
    let submitted = slurm(
        &team.alice,
        "alice",
        &[
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
            "train.py",
        ],
    );
    assert_eq!(submitted.code, 0, "{submitted}");
    let id = submitted.stdout.trim().to_string();
    let started = Instant::now();
    let show = loop {
        let show = json(&team.ok(&team.bob, "bob", &["runs", "show", &id, "--json"]));
        if matches!(
            show["run"]["status"].as_str(),
            Some("Completed" | "Failed" | "Canceled")
        ) {
            break show;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the run never ended: {show}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(show["run"]["status"], "Completed", "{show}");
    assert_eq!(show["run"]["target"], "hpc", "{show}");
    // The job as Slurm last saw it, reported by Alice's machine.
    assert!(show["job"]["jobId"].is_string(), "{show}");
    assert_eq!(show["job"]["target"], "hpc", "{show}");
    assert!(show["job"]["node"].is_string(), "{show}");
    let text = team.ok(&team.bob, "bob", &["runs", "show", &id]);
    assert!(text.contains("Slurm job"), "{text}");
    assert_eq!(show["metrics"].as_array().unwrap().len(), 3, "{show}");
    let logs = team.ok(&team.bob, "bob", &["runs", "logs", &id]);
    assert!(logs.contains("job "), "{logs}");
    assert!(
        !logs.contains("job None"),
        "the script ran as a Slurm job: {logs}"
    );
    let files = json(&team.ok(&team.bob, "bob", &["runs", "files", &id, "--json"]));
    assert!(
        files["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "outputs/model.pkl"),
        "{files}"
    );

    // Detaching is the owner's too; the run keeps its record.
    let refused = slurm(&team.alice, "alice", &["compute", "detach", "hpc"]);
    assert_eq!(refused.code, 1, "{refused}");
    team.ok(&owner, "olga", &["compute", "detach", "hpc"]);
    let unknown = slurm(
        &team.alice,
        "alice",
        &[
            "run",
            "--target",
            "hpc",
            "--env",
            "trainenv",
            "--source-dir",
            "src",
            "train.py",
        ],
    );
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(unknown.stderr.contains("Compute target `hpc`"), "{unknown}");
    let kept = json(&team.ok(&team.bob, "bob", &["runs", "show", &id, "--json"]));
    assert_eq!(kept["run"]["status"], "Completed", "{kept}");
}
