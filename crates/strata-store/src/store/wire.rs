//! Records as the team server's API sends them: their usual JSON, but with every time as
//! exact milliseconds since the epoch, and with what the usual form leaves out that a remote
//! store must keep (a run's cancel request). The usual RFC 3339 form is to the second, so a
//! record sent that way would not read back equal to the one stored; the times'
//! deserializers accept both forms.

use serde::Serialize;
use serde_json::Value;

use super::CursorPage;
use crate::{
    BuildRecord, EnvironmentDocument, EnvironmentSummary, LatestLock, Metric, ModelRecord, RunJob,
    RunRecord, ServiceRecord, TargetRecord,
};

/// A record whose times the API sends exactly.
pub trait ExactTimes: Serialize {
    /// Its time fields: JSON name and milliseconds.
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)>;

    /// Fields the usual JSON form skips that the API sends.
    fn wire_extras(&self) -> Vec<(&'static str, Value)> {
        Vec::new()
    }
}

/// The JSON name of [`RunRecord::cancel_requested`] on the wire.
const CANCEL_REQUESTED: &str = "cancelRequested";

/// A run as the API sends it ([`to_wire`]), with its cancel request.
pub fn run_from_wire(value: Value) -> Result<RunRecord, serde_json::Error> {
    let cancel_requested = value
        .get(CANCEL_REQUESTED)
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut run: RunRecord = serde_json::from_value(value)?;
    run.cancel_requested = cancel_requested;
    Ok(run)
}

/// The record's JSON with exact times.
pub fn to_wire<T: ExactTimes + ?Sized>(record: &T) -> Value {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut value {
        for (name, millis) in record.exact_times() {
            if let Some(millis) = millis {
                fields.insert(name.to_string(), Value::from(millis));
            }
        }
        for (name, extra) in record.wire_extras() {
            fields.insert(name.to_string(), extra);
        }
    }
    value
}

/// A list of records with exact times.
pub fn list_to_wire<T: ExactTimes>(records: &[T]) -> Value {
    Value::Array(records.iter().map(to_wire).collect())
}

/// A page of records with exact times.
pub fn page_to_wire<T: ExactTimes>(page: &CursorPage<T>) -> Value {
    serde_json::json!({"items": list_to_wire(&page.items), "nextCursor": page.next_cursor})
}

impl ExactTimes for EnvironmentSummary {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        vec![("createdAt", Some(self.created_at))]
    }
}

impl ExactTimes for LatestLock {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        Vec::new()
    }

    fn wire_extras(&self) -> Vec<(&'static str, Value)> {
        vec![("environment", to_wire(&self.environment))]
    }
}

impl ExactTimes for EnvironmentDocument {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        self.summary.exact_times()
    }
}

impl ExactTimes for BuildRecord {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        vec![
            ("startedAt", Some(self.started_at)),
            ("finishedAt", Some(self.finished_at)),
        ]
    }
}

impl ExactTimes for RunRecord {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        vec![
            ("queuedAt", Some(self.queued_at)),
            ("preparingAt", self.preparing_at),
            ("startedAt", self.started_at),
            ("finishedAt", self.finished_at),
        ]
    }

    fn wire_extras(&self) -> Vec<(&'static str, Value)> {
        vec![(CANCEL_REQUESTED, Value::Bool(self.cancel_requested))]
    }
}

impl ExactTimes for TargetRecord {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        vec![("createdAt", Some(self.created_at))]
    }
}

impl ExactTimes for RunJob {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        vec![("updatedAt", Some(self.updated_at))]
    }
}

impl ExactTimes for Metric {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        vec![("loggedAt", Some(self.logged_at))]
    }
}

impl ExactTimes for ModelRecord {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        vec![("createdAt", Some(self.created_at))]
    }
}

impl ExactTimes for ServiceRecord {
    fn exact_times(&self) -> Vec<(&'static str, Option<i64>)> {
        vec![
            ("createdAt", Some(self.created_at)),
            ("updatedAt", Some(self.updated_at)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_times_are_exact_and_read_back() {
        let metric = Metric {
            name: "loss".to_string(),
            kind: "scalar".to_string(),
            value: serde_json::json!(0.5),
            logged_at: 1_764_000_000_123,
        };
        let wire = to_wire(&metric);
        assert_eq!(wire["loggedAt"], 1_764_000_000_123_i64);
        let back: Metric = serde_json::from_value(wire).unwrap();
        assert_eq!(back, metric);
        let lossy: Metric = serde_json::from_value(serde_json::to_value(&metric).unwrap()).unwrap();
        assert_ne!(lossy, metric, "the RFC 3339 form is to the second");
    }
}
