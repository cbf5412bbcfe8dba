//! Slurm through its commands: `sbatch --parsable` to submit, `scontrol show job -o` while the
//! controller remembers the job, `sacct` afterwards, `scancel` to stop it.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ComputeError;
use crate::state::{JobState, map_state};

/// A Slurm target's settings, as stored in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlurmSettings {
    /// `--partition`; the cluster's default partition when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// A command the job step runs under (e.g. `["srun"]`, `["unshare", "--net"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launcher: Vec<String>,
    /// The cache on the nodes that packs are materialized into (default on the node:
    /// `$STRATA_NODE_CACHE`, else `$TMPDIR/strata-node-cache`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_cache: Option<PathBuf>,
    /// The nodes see this machine's build cache (`STRATA_CACHE` on a shared filesystem):
    /// jobs use the built prefix directly, without a pack.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_cache: bool,
    /// The `strata` binary as the nodes see it (default: this one's path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strata_bin: Option<PathBuf>,
}

/// What Slurm says about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// Slurm's own state name.
    pub state: String,
    pub reason: Option<String>,
    pub partition: Option<String>,
    pub node: Option<String>,
    /// `(code, signal)` from `ExitCode=3:0`.
    pub exit_code: Option<(i32, i32)>,
}

impl JobInfo {
    pub fn job_state(&self) -> JobState {
        map_state(&self.state, self.reason.as_deref(), self.exit_code)
    }
}

/// The Slurm engine: the commands, found on PATH (or in `bin_dir`).
#[derive(Debug, Clone, Default)]
pub struct Slurm {
    pub bin_dir: Option<PathBuf>,
}

/// No Slurm command gets longer than this: a dead controller makes them hang.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

impl Slurm {
    fn command(&self, program: &str) -> Command {
        let path = match &self.bin_dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        };
        Command::new(path)
    }

    fn run(&self, program: &str, args: &[String]) -> Result<Output, ComputeError> {
        let mut command = self.command(program);
        // In a group of their own: a Ctrl-C at the terminal reaches Strata (which cancels the
        // job with `scancel`), not a `squeue` halfway through its answer.
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .process_group(0);
        tracing::debug!("{program} {}", args.join(" "));
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    ComputeError::ToolMissing {
                        program: program.to_string(),
                    }
                } else {
                    ComputeError::Command {
                        command: program.to_string(),
                        detail: e.to_string(),
                    }
                }
            })?;
        let deadline = std::time::Instant::now() + COMMAND_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if std::time::Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ComputeError::Unreachable {
                        command: format!("{program} {}", args.join(" ")),
                        detail: format!("no answer within {} s", COMMAND_TIMEOUT.as_secs()),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    return Err(ComputeError::Command {
                        command: program.to_string(),
                        detail: e.to_string(),
                    });
                }
            }
        }
        child.wait_with_output().map_err(|e| ComputeError::Command {
            command: program.to_string(),
            detail: e.to_string(),
        })
    }

    fn run_ok(&self, program: &str, args: &[String]) -> Result<String, ComputeError> {
        let output = self.run(program, args)?;
        if !output.status.success() {
            return Err(ComputeError::Command {
                command: format!("{program} {}", args.join(" ")),
                detail: first_error(&output),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Checks the controller answers and, when named, that the partition exists.
    pub fn check(&self, settings: &SlurmSettings) -> Result<Vec<String>, ComputeError> {
        let output = self.run("scontrol", &["ping".to_string()])?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !text.contains("UP") {
            return Err(ComputeError::Unreachable {
                command: "scontrol ping".to_string(),
                detail: if text.trim().is_empty() {
                    first_error(&output)
                } else {
                    text.trim().to_string()
                },
            });
        }
        let partitions: Vec<String> = self
            .run_ok(
                "sinfo",
                &["-h".to_string(), "-o".to_string(), "%R".to_string()],
            )?
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if let Some(partition) = &settings.partition
            && !partitions.iter().any(|p| p == partition)
        {
            return Err(ComputeError::NoPartition {
                partition: partition.clone(),
                available: partitions.join(", "),
            });
        }
        Ok(partitions)
    }

    /// Submits a batch script; returns the job id.
    pub fn submit(&self, args: &[String], script: &Path) -> Result<String, ComputeError> {
        let mut all = vec!["--parsable".to_string()];
        all.extend(args.iter().cloned());
        all.push(script.display().to_string());
        let out = self.run_ok("sbatch", &all)?;
        // `--parsable` prints `ID` or `ID;CLUSTER`.
        let id = out.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return Err(ComputeError::Command {
                command: "sbatch --parsable".to_string(),
                detail: format!("unexpected answer `{}`", out.trim()),
            });
        }
        Ok(id)
    }

    /// Where the job is: the controller while it remembers the job, then accounting.
    /// `None` when no source knows it any more.
    pub fn query(&self, job_id: &str) -> Result<Option<JobInfo>, ComputeError> {
        let output = self.run(
            "scontrol",
            &[
                "show".to_string(),
                "job".to_string(),
                "-o".to_string(),
                job_id.to_string(),
            ],
        )?;
        if output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout);
            if let Some(info) = parse_scontrol(&text) {
                return Ok(Some(info));
            }
        } else {
            let error = first_error(&output);
            if !error.contains("Invalid job id") {
                return Err(ComputeError::Unreachable {
                    command: format!("scontrol show job {job_id}"),
                    detail: error,
                });
            }
        }
        // Purged from the controller (MinJobAge): accounting, or the job completion log.
        for args in [
            vec![
                "-X",
                "-n",
                "-P",
                "-j",
                job_id,
                "-o",
                "JobID,State,ExitCode,NodeList,Partition,Reason",
            ],
            vec![
                "--completion",
                "-n",
                "-P",
                "-j",
                job_id,
                "-o",
                "JobID,State,ExitCode,NodeList,Partition",
            ],
        ] {
            let args: Vec<String> = args.into_iter().map(str::to_string).collect();
            let Ok(output) = self.run("sacct", &args) else {
                continue;
            };
            if !output.status.success() {
                continue;
            }
            if let Some(info) = parse_sacct(&String::from_utf8_lossy(&output.stdout), job_id) {
                return Ok(Some(info));
            }
        }
        Ok(None)
    }

    /// `scancel`; `kill` sends SIGKILL to the job's processes instead of ending it normally.
    pub fn cancel(&self, job_id: &str, kill: bool) -> Result<(), ComputeError> {
        let mut args = Vec::new();
        if kill {
            args.extend(["--signal=KILL".to_string(), "--full".to_string()]);
        }
        args.push(job_id.to_string());
        self.run_ok("scancel", &args)?;
        Ok(())
    }
}

fn first_error(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    if line.is_empty() {
        format!("exit status {}", output.status)
    } else {
        line
    }
}

/// `3:0` → `(3, 0)`.
pub fn parse_exit_code(text: &str) -> Option<(i32, i32)> {
    let (code, signal) = text.trim().split_once(':')?;
    Some((code.parse().ok()?, signal.parse().ok()?))
}

fn none_if_null(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty() && value != "(null)" && value != "None").then(|| value.to_string())
}

/// `scontrol show job -o`: one line of `Key=Value` pairs.
fn parse_scontrol(text: &str) -> Option<JobInfo> {
    let line = text.lines().find(|l| l.contains("JobState="))?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string)
    };
    Some(JobInfo {
        state: field("JobState")?,
        reason: field("Reason").and_then(|r| none_if_null(&r)),
        partition: field("Partition").and_then(|p| none_if_null(&p)),
        node: field("NodeList").and_then(|n| none_if_null(&n)),
        exit_code: field("ExitCode").and_then(|e| parse_exit_code(&e)),
    })
}

/// `sacct -n -P -o JobID,State,ExitCode,NodeList,Partition[,Reason]`, the job's own line.
fn parse_sacct(text: &str, job_id: &str) -> Option<JobInfo> {
    let line = text.lines().find(|l| l.split('|').next() == Some(job_id))?;
    let fields: Vec<&str> = line.split('|').collect();
    Some(JobInfo {
        state: fields.get(1)?.to_string(),
        exit_code: fields.get(2).and_then(|e| parse_exit_code(e)),
        node: fields.get(3).and_then(|n| none_if_null(n)),
        partition: fields.get(4).and_then(|p| none_if_null(p)),
        reason: fields.get(5).and_then(|r| none_if_null(r)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scontrol_lines_are_parsed() {
        let line = "JobId=12 JobName=strata UserId=root(0) JobState=TIMEOUT Reason=TimeLimit Dependency=(null) ExitCode=0:15 Partition=debug NodeList=vm BatchHost=vm\n";
        let info = parse_scontrol(line).unwrap();
        assert_eq!(info.state, "TIMEOUT");
        assert_eq!(info.reason.as_deref(), Some("TimeLimit"));
        assert_eq!(info.partition.as_deref(), Some("debug"));
        assert_eq!(info.node.as_deref(), Some("vm"));
        assert_eq!(info.exit_code, Some((0, 15)));
        let pending = parse_scontrol(
            "JobId=13 JobState=PENDING Reason=Resources ExitCode=0:0 Partition=gpu NodeList=(null)",
        )
        .unwrap();
        assert_eq!(pending.node, None);
    }

    #[test]
    fn sacct_lines_are_parsed_for_the_job_itself() {
        let text = "3|CANCELLED by 0|0:0|vm|debug\n3.batch|CANCELLED|0:15|vm|\n";
        let info = parse_sacct(text, "3").unwrap();
        assert_eq!(info.state, "CANCELLED by 0");
        assert_eq!(info.node.as_deref(), Some("vm"));
        assert!(parse_sacct(text, "4").is_none());
        assert_eq!(parse_exit_code("3:0"), Some((3, 0)));
        assert_eq!(parse_exit_code("x"), None);
    }

    #[test]
    fn settings_refuse_unknown_fields() {
        assert!(
            serde_json::from_value::<SlurmSettings>(serde_json::json!({"partiton": "x"})).is_err()
        );
        let settings: SlurmSettings =
            serde_json::from_value(serde_json::json!({"partition": "gpu", "account": "ml"}))
                .unwrap();
        assert_eq!(settings.account.as_deref(), Some("ml"));
    }
}
