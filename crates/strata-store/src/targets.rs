//! Compute targets: where runs run. `local` and `container` are built in; the others (a Slurm
//! cluster, ...) are records with a kind and the kind's settings. A run sent to a scheduler
//! has a job: its id, partition, node and the scheduler's state, kept beside the run.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::workspace::{Workspace, now_millis};

/// The targets every workspace has, with their kinds.
pub const BUILTIN_TARGETS: &[(&str, &str)] = &[("local", "local"), ("container", "container")];

/// One compute target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetRecord {
    pub name: String,
    /// `local`, `container` or `slurm`.
    pub kind: String,
    /// The kind's settings (for Slurm: partition, account, qos, ...).
    pub settings: serde_json::Value,
    pub builtin: bool,
    /// Unix milliseconds; 0 for the built-in targets.
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub created_at: i64,
}

/// The scheduler's side of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunJob {
    pub run_id: String,
    pub target: String,
    /// `None` until the scheduler accepted it.
    pub job_id: Option<String>,
    /// What the run asked for (cpus, memory, gpus, time), as given.
    pub resources: serde_json::Value,
    pub partition: Option<String>,
    pub node: Option<String>,
    /// The scheduler's own state name (`PENDING`, `RUNNING`, `TIMEOUT`, ...).
    pub state: String,
    pub reason: Option<String>,
    #[schemars(schema_with = "crate::schema::exact_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub updated_at: i64,
}

/// Target names: letters, digits, `-` and `_`, starting with a letter, at most 64 characters.
pub fn validate_target_name(name: &str) -> Result<(), StoreError> {
    let valid = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidReference {
            reference: name.to_string(),
            reason: "a compute target name uses letters, digits, `-` and `_`, starts with a letter and has at most 64 characters".to_string(),
        })
    }
}

/// A built-in target by name.
pub fn builtin_target(name: &str) -> Option<TargetRecord> {
    BUILTIN_TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(name, kind)| TargetRecord {
            name: (*name).to_string(),
            kind: (*kind).to_string(),
            settings: serde_json::json!({}),
            builtin: true,
            created_at: 0,
        })
}

fn row_to_target(row: &rusqlite::Row<'_>) -> rusqlite::Result<TargetRecord> {
    let settings: String = row.get(2)?;
    Ok(TargetRecord {
        name: row.get(0)?,
        kind: row.get(1)?,
        settings: serde_json::from_str(&settings).unwrap_or(serde_json::Value::Null),
        builtin: false,
        created_at: row.get(3)?,
    })
}

fn row_to_job(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunJob> {
    let resources: String = row.get(3)?;
    Ok(RunJob {
        run_id: row.get(0)?,
        target: row.get(1)?,
        job_id: row.get(2)?,
        resources: serde_json::from_str(&resources).unwrap_or(serde_json::Value::Null),
        partition: row.get(4)?,
        node: row.get(5)?,
        state: row.get(6)?,
        reason: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

/// The error for attaching a name that is taken, in every store.
pub fn target_exists(name: &str) -> StoreError {
    StoreError::InvalidReference {
        reference: name.to_string(),
        reason: format!(
            "a compute target named `{name}` already exists; detach it first (`strata compute detach {name}`) or pick another name"
        ),
    }
}

/// The error for a target nobody attached, in every store.
pub fn target_not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        what: format!(
            "Compute target `{name}` (attach one with `strata compute attach {name} --slurm`, list them with `strata compute list`)"
        ),
    }
}

/// The error for detaching `local` or `container`, in every store.
pub fn builtin_not_detachable(name: &str) -> StoreError {
    StoreError::InvalidReference {
        reference: name.to_string(),
        reason: "the built-in targets `local` and `container` cannot be detached".to_string(),
    }
}

impl Workspace {
    /// Records a target; a name already taken (or built in) is refused.
    pub fn attach_target(
        &self,
        name: &str,
        kind: &str,
        settings: &serde_json::Value,
    ) -> Result<TargetRecord, StoreError> {
        validate_target_name(name)?;
        if builtin_target(name).is_some() || self.find_target(name)?.is_some() {
            return Err(target_exists(name));
        }
        let created_at = now_millis();
        self.connection
            .execute(
                "INSERT INTO compute_targets (name, kind, settings, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, kind, settings.to_string(), created_at],
            )
            .map_err(StoreError::db("recording a compute target"))?;
        Ok(TargetRecord {
            name: name.to_string(),
            kind: kind.to_string(),
            settings: settings.clone(),
            builtin: false,
            created_at,
        })
    }

    fn find_target(&self, name: &str) -> Result<Option<TargetRecord>, StoreError> {
        self.connection
            .query_row(
                "SELECT name, kind, settings, created_at FROM compute_targets WHERE name = ?1",
                params![name],
                row_to_target,
            )
            .optional()
            .map_err(StoreError::db("reading a compute target"))
    }

    /// A target by name, built in or attached.
    pub fn get_target(&self, name: &str) -> Result<TargetRecord, StoreError> {
        if let Some(target) = builtin_target(name) {
            return Ok(target);
        }
        self.find_target(name)?
            .ok_or_else(|| target_not_found(name))
    }

    /// The built-in targets, then the attached ones by name.
    pub fn list_targets(&self) -> Result<Vec<TargetRecord>, StoreError> {
        let mut targets: Vec<TargetRecord> = BUILTIN_TARGETS
            .iter()
            .filter_map(|(name, _)| builtin_target(name))
            .collect();
        let mut statement = self
            .connection
            .prepare("SELECT name, kind, settings, created_at FROM compute_targets ORDER BY name")
            .map_err(StoreError::db("listing compute targets"))?;
        let rows = statement
            .query_map([], row_to_target)
            .map_err(StoreError::db("listing compute targets"))?;
        for row in rows {
            targets.push(row.map_err(StoreError::db("listing compute targets"))?);
        }
        Ok(targets)
    }

    /// Removes an attached target; runs that used it keep their records.
    pub fn detach_target(&self, name: &str) -> Result<(), StoreError> {
        if builtin_target(name).is_some() {
            return Err(builtin_not_detachable(name));
        }
        let removed = self
            .connection
            .execute("DELETE FROM compute_targets WHERE name = ?1", params![name])
            .map_err(StoreError::db("removing a compute target"))?;
        if removed == 0 {
            return Err(target_not_found(name));
        }
        Ok(())
    }

    /// Records (or updates) the job of a run.
    pub fn set_run_job(&self, job: &RunJob) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO run_jobs (run_id, target, job_id, resources, partition, node, state, reason, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (run_id) DO UPDATE SET job_id = COALESCE(excluded.job_id, job_id),
                   target = CASE WHEN excluded.target = '' THEN target ELSE excluded.target END,
                   resources = CASE WHEN excluded.resources = 'null' THEN resources ELSE excluded.resources END,
                   partition = COALESCE(excluded.partition, partition),
                   node = COALESCE(excluded.node, node), state = excluded.state,
                   reason = excluded.reason, updated_at = excluded.updated_at",
                params![
                    job.run_id,
                    job.target,
                    job.job_id,
                    job.resources.to_string(),
                    job.partition,
                    job.node,
                    job.state,
                    job.reason,
                    job.updated_at
                ],
            )
            .map_err(StoreError::db("recording a run's job"))?;
        Ok(())
    }

    /// Back to `Queued` once the scheduler holds the job (preparing is over, it waits there).
    pub fn run_job_queued(&self, run_id: &str) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE runs SET status = 'Queued' WHERE id = ?1 AND status = 'Preparing'",
                params![run_id],
            )
            .map_err(StoreError::db("updating a run"))?;
        Ok(())
    }

    /// The job of a run sent to a scheduler, if any.
    pub fn get_run_job(&self, run_id: &str) -> Result<Option<RunJob>, StoreError> {
        self.connection
            .query_row(
                "SELECT run_id, target, job_id, resources, partition, node, state, reason, updated_at FROM run_jobs WHERE run_id = ?1",
                params![run_id],
                row_to_job,
            )
            .optional()
            .map_err(StoreError::db("reading a run's job"))
    }
}

/// A built environment as one blob, for nodes that cannot build it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackRecord {
    pub lock_hash: String,
    /// The blob's digest.
    pub digest: String,
    pub size: u64,
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub created_at: i64,
}

impl Workspace {
    /// The pack of a lock, if one was made.
    pub fn get_pack(&self, lock_hash: &str) -> Result<Option<PackRecord>, StoreError> {
        self.connection
            .query_row(
                "SELECT lock_hash, digest, size, created_at FROM packs WHERE lock_hash = ?1",
                params![lock_hash],
                |row| {
                    Ok(PackRecord {
                        lock_hash: row.get(0)?,
                        digest: row.get(1)?,
                        size: row.get(2)?,
                        created_at: row.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(StoreError::db("reading a pack"))
    }

    /// Records the pack of a lock (its blob is stored already); the first one recorded stays.
    pub fn record_pack(&self, pack: &PackRecord) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO packs (lock_hash, digest, size, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (lock_hash) DO NOTHING",
                params![pack.lock_hash, pack.digest, pack.size, pack.created_at],
            )
            .map_err(StoreError::db("recording a pack"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_attached_listed_and_detached() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::init(dir.path()).unwrap();
        let settings = serde_json::json!({"partition": "gpu"});
        workspace.attach_target("hpc", "slurm", &settings).unwrap();
        let names: Vec<_> = workspace
            .list_targets()
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.kind))
            .collect();
        assert_eq!(
            names,
            [
                ("local".to_string(), "local".to_string()),
                ("container".to_string(), "container".to_string()),
                ("hpc".to_string(), "slurm".to_string())
            ]
        );
        assert_eq!(workspace.get_target("hpc").unwrap().settings, settings);
        assert!(workspace.attach_target("hpc", "slurm", &settings).is_err());
        assert!(
            workspace
                .attach_target("local", "slurm", &settings)
                .is_err()
        );
        assert!(workspace.detach_target("local").is_err());
        workspace.detach_target("hpc").unwrap();
        assert!(matches!(
            workspace.get_target("hpc"),
            Err(StoreError::NotFound { .. })
        ));
        assert!(validate_target_name("1bad").is_err());
        assert!(validate_target_name("a/b").is_err());
    }

    #[test]
    fn a_run_job_keeps_its_node_when_a_later_state_does_not_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::init(dir.path()).unwrap();
        let mut job = RunJob {
            run_id: "r1".to_string(),
            target: "hpc".to_string(),
            job_id: Some("7".to_string()),
            resources: serde_json::json!({"cpus": 1}),
            partition: Some("debug".to_string()),
            node: Some("n1".to_string()),
            state: "RUNNING".to_string(),
            reason: None,
            updated_at: 1,
        };
        workspace.set_run_job(&job).unwrap();
        job.node = None;
        job.state = "TIMEOUT".to_string();
        job.reason = Some("TimeLimit".to_string());
        workspace.set_run_job(&job).unwrap();
        let stored = workspace.get_run_job("r1").unwrap().unwrap();
        assert_eq!(stored.node.as_deref(), Some("n1"));
        assert_eq!(stored.state, "TIMEOUT");
        assert_eq!(stored.reason.as_deref(), Some("TimeLimit"));
    }

    #[test]
    fn a_lock_keeps_its_first_pack() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::init(dir.path()).unwrap();
        assert_eq!(workspace.get_pack("lock").unwrap(), None);
        let first = PackRecord {
            lock_hash: "lock".to_string(),
            digest: "aa".to_string(),
            size: 3,
            created_at: 1,
        };
        workspace.record_pack(&first).unwrap();
        workspace
            .record_pack(&PackRecord {
                digest: "bb".to_string(),
                ..first.clone()
            })
            .unwrap();
        assert_eq!(workspace.get_pack("lock").unwrap(), Some(first));
    }
}
