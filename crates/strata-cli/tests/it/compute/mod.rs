//! Runs on a Slurm target, against a real single-node cluster (`scripts/slurm-test-cluster`,
//! started by `scripts/test`, which sets `STRATA_TEST_SLURM`), through Slurm's commands and
//! through its slurmrestd. Without one these tests fail when `CI=true` and say they were
//! skipped otherwise.

mod commands;
mod rest;
mod supervisors;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestContext;

/// Fails in CI, says the test was skipped otherwise.
pub(super) fn skip(message: &str) {
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
pub(super) struct Cluster {
    pub(super) context: TestContext,
    pub(super) conf: PathBuf,
    /// The slurmrestd URL `hpc` was attached with, if it goes through REST.
    pub(super) rest: Option<String>,
}

impl Cluster {
    pub(super) fn new(attach: &[&str]) -> Option<Self> {
        let conf = slurm_conf()?;
        Some(Self::attached(conf, None, attach))
    }

    /// `hpc` attached through the cluster's slurmrestd.
    pub(super) fn rest(attach: &[&str]) -> Option<Self> {
        let conf = slurm_conf()?;
        let url = slurmrestd_url(&conf)?;
        let mut args = vec!["--rest-url", url.as_str()];
        args.extend_from_slice(attach);
        let args: Vec<String> = args.into_iter().map(str::to_string).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Some(Self::attached(conf, Some(url.clone()), &args))
    }

    pub(super) fn attached(conf: PathBuf, rest: Option<String>, attach: &[&str]) -> Self {
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
    pub(super) fn dead_conf(&self) -> PathBuf {
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
    pub(super) fn token(&self) -> String {
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

    pub(super) fn node_cache(&self) -> PathBuf {
        self.context.path().join("node-cache")
    }

    pub(super) fn command(&self) -> Command {
        let mut command = self.context.command();
        command.env("SLURM_CONF", &self.conf);
        command
    }

    pub(super) fn run(&self, args: &[&str]) -> crate::common::Output {
        self.context.output(self.command().args(args))
    }

    pub(super) fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(output.code, 0, "{output}");
        output.stdout
    }

    pub(super) fn show(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["runs", "show", id, "--json"])).unwrap()
    }

    /// Submits detached; returns the run id.
    pub(super) fn submit(&self, extra: &[&str], script: &str) -> String {
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

    pub(super) fn wait_for(
        &self,
        id: &str,
        done: impl Fn(&Value) -> bool,
        limit: Duration,
    ) -> Value {
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

    pub(super) fn wait_finished(&self, id: &str, limit: Duration) -> Value {
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

    pub(super) fn run_dir(&self, id: &str) -> PathBuf {
        self.context.path().join(".strata/runs").join(id)
    }

    pub(super) fn materialized(&self, id: &str) -> Value {
        let text = fs_err::read_to_string(self.run_dir(id).join(".strata-run/materialize.json"))
            .expect("the job step records how it got the environment");
        serde_json::from_str(&text).unwrap()
    }

    pub(super) fn squeue_knows(&self, job: &str) -> bool {
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

pub(super) const TRAIN: &str = r#"
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

pub(super) const SLOW: &str = r#"
import time
for i in range(100000):
    print("tick", i, flush=True)
    time.sleep(0.2)
"#;
