//! Slurm through its commands: `sbatch --parsable` to submit, `scontrol show job -o` while the
//! controller remembers the job, `sacct` afterwards, `scancel` to stop it.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::error::ComputeError;
use crate::slurm::{BatchJob, JobInfo, SlurmEngine, none_if_null, parse_exit_code};

/// The Slurm engine of a login node: its commands, found on PATH (or in `bin_dir`).
#[derive(Debug, Clone, Default)]
pub struct SlurmCommands {
    pub bin_dir: Option<PathBuf>,
}

/// No Slurm command gets longer than this: a dead controller makes them hang.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

impl SlurmCommands {
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

    pub(crate) fn run_ok(&self, program: &str, args: &[String]) -> Result<String, ComputeError> {
        let output = self.run(program, args)?;
        if !output.status.success() {
            return Err(ComputeError::Command {
                command: format!("{program} {}", args.join(" ")),
                detail: first_error(&output),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The `sbatch` options of a job (before the script's path).
    fn sbatch_args(job: &BatchJob) -> Result<Vec<String>, ComputeError> {
        let mut args = vec![
            format!("--job-name={}", job.name),
            format!("--output={}", job.output.display()),
            format!("--chdir={}", job.workdir.display()),
            "--export=ALL".to_string(),
        ];
        if let Some(partition) = &job.partition {
            args.push(format!("--partition={partition}"));
        }
        if let Some(account) = &job.account {
            args.push(format!("--account={account}"));
        }
        if let Some(qos) = &job.qos {
            args.push(format!("--qos={qos}"));
        }
        args.extend(job.resources.sbatch_args()?);
        Ok(args)
    }
}

impl SlurmEngine for SlurmCommands {
    fn check(&self, partition: Option<&str>) -> Result<Vec<String>, ComputeError> {
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
        if let Some(partition) = partition
            && !partitions.iter().any(|p| p == partition)
        {
            return Err(ComputeError::NoPartition {
                partition: partition.to_string(),
                available: partitions.join(", "),
            });
        }
        Ok(partitions)
    }

    fn submit(&self, job: &BatchJob) -> Result<String, ComputeError> {
        let mut all = vec!["--parsable".to_string()];
        all.extend(Self::sbatch_args(job)?);
        all.push(job.script_path.display().to_string());
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

    /// The controller while it remembers the job, then accounting.
    fn query(&self, job_id: &str) -> Result<Option<JobInfo>, ComputeError> {
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

    fn cancel(&self, job_id: &str) -> Result<(), ComputeError> {
        self.run_ok("scancel", &[job_id.to_string()])?;
        Ok(())
    }

    fn cancel_label(&self) -> &'static str {
        "scancel"
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
    fn a_job_becomes_sbatch_options() {
        let job = BatchJob {
            name: "strata-r1".to_string(),
            script: String::new(),
            script_path: PathBuf::from("/w/r1/.strata-run/job.sh"),
            workdir: PathBuf::from("/w/r1"),
            output: PathBuf::from("/w/r1/logs/std_log.txt"),
            partition: Some("gpu".to_string()),
            account: Some("ml".to_string()),
            qos: None,
            resources: crate::resources::Resources {
                memory: Some("200M".to_string()),
                ..Default::default()
            },
        };
        assert_eq!(
            SlurmCommands::sbatch_args(&job).unwrap(),
            [
                "--job-name=strata-r1",
                "--output=/w/r1/logs/std_log.txt",
                "--chdir=/w/r1",
                "--export=ALL",
                "--partition=gpu",
                "--account=ml",
                "--ntasks=1",
                "--mem=200M"
            ]
        );
    }

    #[test]
    fn sacct_lines_are_parsed_for_the_job_itself() {
        let text = "3|CANCELLED by 0|0:0|vm|debug\n3.batch|CANCELLED|0:15|vm|\n";
        let info = parse_sacct(text, "3").unwrap();
        assert_eq!(info.state, "CANCELLED by 0");
        assert_eq!(info.node.as_deref(), Some("vm"));
        assert!(parse_sacct(text, "4").is_none());
    }
}
