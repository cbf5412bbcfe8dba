//! A detached supervisor that dies does not leave its Slurm job running, through the commands
//! or through slurmrestd.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{Cluster, SLOW};

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
