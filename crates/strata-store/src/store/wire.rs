//! Records as the team server's API sends them: their usual JSON, but with every time as
//! exact milliseconds since the epoch, and with what the usual form leaves out that a remote
//! store must keep (a run's cancel request). The usual RFC 3339 form is to the second, so a
//! record sent that way would not read back equal to the one stored; the times'
//! deserializers accept both forms.

use serde::Serialize;
use serde_json::Value;

use super::CursorPage;
use crate::workspace::with_exact_times;
use crate::{
    BuildRecord, EnvironmentDocument, EnvironmentSummary, LatestLock, Metric, ModelRecord, RunJob,
    RunRecord, ServiceRecord, TargetRecord,
};

/// A record whose times the API sends exactly: every time field serializes through the
/// workspace's time serializers, which write milliseconds while [`to_wire`] or
/// [`to_wire_bytes`] runs.
pub trait ExactTimes: Serialize {}

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
    with_exact_times(|| serde_json::to_value(record)).unwrap_or(Value::Null)
}

/// The record's JSON with exact times, as bytes: what a server answers, written without
/// building the JSON tree [`to_wire`] gives.
pub fn to_wire_bytes<T: ExactTimes + ?Sized>(record: &T) -> Vec<u8> {
    with_exact_times(|| serde_json::to_vec(record)).unwrap_or_default()
}

/// A list of records with exact times.
pub fn list_to_wire<T: ExactTimes>(records: &[T]) -> Value {
    to_wire(records)
}

/// A page of records with exact times.
pub fn page_to_wire<T: ExactTimes>(page: &CursorPage<T>) -> Value {
    to_wire(page)
}

impl<T: ExactTimes> ExactTimes for CursorPage<T> {}
impl<T: ExactTimes> ExactTimes for [T] {}
impl<T: ExactTimes> ExactTimes for Vec<T> {}

impl ExactTimes for EnvironmentSummary {}

impl ExactTimes for LatestLock {}

impl ExactTimes for EnvironmentDocument {}

impl ExactTimes for BuildRecord {}

impl ExactTimes for RunRecord {}

impl ExactTimes for TargetRecord {}

impl ExactTimes for RunJob {}

impl ExactTimes for Metric {}

impl ExactTimes for ModelRecord {}

impl ExactTimes for ServiceRecord {}

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

    #[test]
    fn a_page_is_written_as_its_json_tree_would_be_with_every_time_exact() {
        let mut run = RunRecord::queued("r1", "exp", "/runs/r1".to_string(), "local");
        run.queued_at = 1_764_000_000_123;
        run.finished_at = Some(1_764_000_009_456);
        run.cancel_requested = true;
        let page = CursorPage {
            items: vec![run.clone(), run],
            next_cursor: Some("next".to_string()),
        };
        let bytes = to_wire_bytes(&page);
        assert_eq!(bytes, serde_json::to_vec(&page_to_wire(&page)).unwrap());
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["items"][1]["queuedAt"], 1_764_000_000_123_i64);
        assert_eq!(value["items"][1]["finishedAt"], 1_764_000_009_456_i64);
        assert_eq!(value["items"][1]["startedAt"], Value::Null);
        assert_eq!(value["items"][0]["cancelRequested"], true);
        assert_eq!(value["nextCursor"], "next");
        let back = run_from_wire(value["items"][0].clone()).unwrap();
        assert_eq!(back, page.items[0]);
        // Outside the API the same record keeps its usual text times.
        let usual = serde_json::to_value(&page.items[0]).unwrap();
        assert!(usual["queuedAt"].is_string(), "{usual}");
    }

    #[test]
    fn a_panic_while_writing_does_not_leave_times_exact() {
        let caught = std::panic::catch_unwind(|| with_exact_times(|| panic!("in a serializer")));
        assert!(caught.is_err());
        let metric = Metric {
            name: "loss".to_string(),
            kind: "scalar".to_string(),
            value: serde_json::json!(1),
            logged_at: 1_764_000_000_000,
        };
        assert!(serde_json::to_value(&metric).unwrap()["loggedAt"].is_string());
    }
}
