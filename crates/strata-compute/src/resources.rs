//! What a run asks the scheduler for, checked once and written as each engine wants it:
//! `sbatch` options, or slurmrestd's numbers (megabytes, minutes).

use serde::{Deserialize, Serialize};

use crate::error::ComputeError;

/// What a run asks the scheduler for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// `8G`, `512M`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// `2h`, `30m`, `1h30m`, `90s`, `1d`, or Slurm's own `HH:MM:SS` / `D-HH:MM:SS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl Resources {
    /// The `sbatch` options; invalid values are errors naming the value and the form expected.
    pub fn sbatch_args(&self) -> Result<Vec<String>, ComputeError> {
        let mut args = vec!["--ntasks=1".to_string()];
        if let Some(cpus) = self.cpus {
            if cpus == 0 {
                return Err(ComputeError::InvalidResource {
                    what: "CPU count",
                    value: "0".to_string(),
                    reason: "ask for at least 1".to_string(),
                });
            }
            args.push(format!("--cpus-per-task={cpus}"));
        }
        if let Some(memory) = &self.memory {
            args.push(format!("--mem={}", parse_memory(memory)?));
        }
        if let Some(gpus) = self.gpus.filter(|g| *g > 0) {
            args.push(format!("--gres=gpu:{gpus}"));
        }
        if let Some(time) = &self.time {
            args.push(format!("--time={}", parse_time(time)?));
        }
        Ok(args)
    }

    /// The same request as numbers, for slurmrestd: memory in megabytes and the time limit in
    /// whole minutes, rounded up as Slurm rounds `--time`.
    pub fn amounts(&self) -> Result<Amounts, ComputeError> {
        // One validation for both engines: what sbatch would refuse is refused here too.
        self.sbatch_args()?;
        let memory_megabytes = match &self.memory {
            Some(memory) => Some(megabytes(&parse_memory(memory)?)),
            None => None,
        };
        let time_minutes = match &self.time {
            Some(time) => {
                let slurm = parse_time(time)?;
                let seconds =
                    slurm_seconds(&slurm).ok_or_else(|| ComputeError::InvalidResource {
                        what: "time limit",
                        value: time.clone(),
                        reason: "use e.g. `2h`, `30m`, `1h30m`, `90s`, `1d`, or Slurm's `HH:MM:SS`"
                            .to_string(),
                    })?;
                Some(seconds.div_ceil(60))
            }
            None => None,
        };
        Ok(Amounts {
            cpus: self.cpus,
            memory_megabytes,
            gpus: self.gpus.filter(|g| *g > 0),
            time_minutes,
        })
    }
}

/// A checked [`Resources`] as numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    pub cpus: Option<u32>,
    pub memory_megabytes: Option<u64>,
    pub gpus: Option<u32>,
    pub time_minutes: Option<u64>,
}

/// `8G` (as [`parse_memory`] writes it) in megabytes; kilobytes round up to a whole megabyte.
fn megabytes(normalized: &str) -> u64 {
    let (number, unit) = normalized.split_at(normalized.len() - 1);
    let number: u64 = number.parse().unwrap_or(0);
    match unit {
        "K" => number.div_ceil(1024),
        "G" => number * 1024,
        "T" => number * 1024 * 1024,
        _ => number,
    }
}

/// Slurm's time forms in seconds: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
fn slurm_seconds(text: &str) -> Option<u64> {
    let number = |part: &str| part.parse::<u64>().ok();
    let (days, rest) = match text.split_once('-') {
        Some((days, rest)) => (number(days)?, Some(rest)),
        None => (0, None),
    };
    let seconds = match rest {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [h] => number(h)? * 3600,
                [h, m] => number(h)? * 3600 + number(m)? * 60,
                [h, m, s] => number(h)? * 3600 + number(m)? * 60 + number(s)?,
                _ => return None,
            }
        }
        None => {
            let parts: Vec<&str> = text.split(':').collect();
            match parts.as_slice() {
                [m] => number(m)? * 60,
                [m, s] => number(m)? * 60 + number(s)?,
                [h, m, s] => number(h)? * 3600 + number(m)? * 60 + number(s)?,
                _ => return None,
            }
        }
    };
    Some(days * 86400 + seconds)
}

fn parse_memory(text: &str) -> Result<String, ComputeError> {
    let upper = text.trim().to_ascii_uppercase();
    let upper = upper.strip_suffix('B').unwrap_or(&upper);
    let (number, unit) = match upper.chars().last() {
        Some(c @ ('K' | 'M' | 'G' | 'T')) => (&upper[..upper.len() - 1], c.to_string()),
        _ => (upper, "M".to_string()),
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 => Ok(format!("{n}{unit}")),
        _ => Err(ComputeError::InvalidResource {
            what: "memory",
            value: text.to_string(),
            reason: "use a whole number with K, M, G or T, e.g. `8G` or `512M`".to_string(),
        }),
    }
}

/// A duration as Slurm's `D-HH:MM:SS`; Slurm's own forms pass through.
fn parse_time(text: &str) -> Result<String, ComputeError> {
    let text = text.trim();
    let invalid = || ComputeError::InvalidResource {
        what: "time limit",
        value: text.to_string(),
        reason: "use e.g. `2h`, `30m`, `1h30m`, `90s`, `1d`, or Slurm's `HH:MM:SS`".to_string(),
    };
    if text.contains(':') || text.contains('-') {
        let valid = text
            .chars()
            .all(|c| c.is_ascii_digit() || c == ':' || c == '-');
        return if valid {
            Ok(text.to_string())
        } else {
            Err(invalid())
        };
    }
    let mut seconds = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(invalid()),
        };
        let value: u64 = number.parse().map_err(|_| invalid())?;
        seconds += value * unit;
        number.clear();
    }
    if !number.is_empty() {
        // A bare number is minutes, as in Slurm.
        seconds += number.parse::<u64>().map_err(|_| invalid())? * 60;
    }
    if seconds == 0 {
        return Err(invalid());
    }
    Ok(format!(
        "{}-{:02}:{:02}:{:02}",
        seconds / 86400,
        seconds % 86400 / 3600,
        seconds % 3600 / 60,
        seconds % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_become_sbatch_options() {
        let resources = Resources {
            cpus: Some(4),
            memory: Some("8G".to_string()),
            gpus: Some(1),
            time: Some("2h".to_string()),
        };
        assert_eq!(
            resources.sbatch_args().unwrap(),
            [
                "--ntasks=1",
                "--cpus-per-task=4",
                "--mem=8G",
                "--gres=gpu:1",
                "--time=0-02:00:00"
            ]
        );
        assert_eq!(parse_time("1h30m").unwrap(), "0-01:30:00");
        assert_eq!(parse_time("90s").unwrap(), "0-00:01:30");
        assert_eq!(parse_time("2d").unwrap(), "2-00:00:00");
        assert_eq!(parse_time("01:00:00").unwrap(), "01:00:00");
        assert_eq!(parse_time("10").unwrap(), "0-00:10:00");
        assert!(parse_time("2 hours").is_err());
        assert!(parse_time("0m").is_err());
        assert_eq!(parse_memory("512m").unwrap(), "512M");
        assert_eq!(parse_memory("8GB").unwrap(), "8G");
        assert_eq!(parse_memory("100").unwrap(), "100M");
        assert!(parse_memory("lots").is_err());
        assert!(
            Resources {
                cpus: Some(0),
                ..Resources::default()
            }
            .sbatch_args()
            .is_err()
        );
    }

    #[test]
    fn resources_become_slurmrestd_numbers() {
        let amounts = Resources {
            cpus: Some(4),
            memory: Some("8G".to_string()),
            gpus: Some(1),
            time: Some("1h30m".to_string()),
        }
        .amounts()
        .unwrap();
        assert_eq!(
            amounts,
            Amounts {
                cpus: Some(4),
                memory_megabytes: Some(8192),
                gpus: Some(1),
                time_minutes: Some(90),
            }
        );
        let minutes = |time: &str| {
            Resources {
                time: Some(time.to_string()),
                ..Resources::default()
            }
            .amounts()
            .unwrap()
            .time_minutes
        };
        // Seconds round up to a minute, as `sbatch --time` does.
        assert_eq!(minutes("90s"), Some(2));
        assert_eq!(minutes("2d"), Some(2880));
        assert_eq!(minutes("10"), Some(10));
        assert_eq!(minutes("01:00:00"), Some(60));
        assert_eq!(minutes("5:30"), Some(6));
        assert_eq!(minutes("1-2"), Some(1560));
        assert_eq!(minutes("1-02:30"), Some(1590));
        assert!(
            Resources {
                time: Some("1-2-3".to_string()),
                ..Resources::default()
            }
            .amounts()
            .is_err()
        );
        let memory = |text: &str| {
            Resources {
                memory: Some(text.to_string()),
                ..Resources::default()
            }
            .amounts()
            .unwrap()
            .memory_megabytes
        };
        assert_eq!(memory("200M"), Some(200));
        assert_eq!(memory("1500K"), Some(2));
        assert_eq!(memory("1T"), Some(1_048_576));
        assert_eq!(Resources::default().amounts().unwrap(), Amounts::default());
        assert!(
            Resources {
                memory: Some("lots".to_string()),
                ..Resources::default()
            }
            .amounts()
            .is_err()
        );
    }
}
