//! A run's scheduler job (`runs/{id}/job`): reported by the machine that submitted it, read
//! by everyone.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use strata_store::RunJob;

use super::wire;
use crate::auth::{Access, Read, Write};
use crate::errors::ApiError;

/// `GET runs/{id}/job`: the job, or `204` for a run that has none (it ran locally).
pub(crate) async fn get(
    access: Access<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(match access.store.get_run_job(&id).await? {
        Some(job) => wire(&job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `PUT runs/{id}/job`: what the scheduler says of the run's job now; fields left `null`
/// keep what was recorded.
pub(crate) async fn put(
    access: Access<Write>,
    Path((_, id)): Path<(String, String)>,
    Json(mut job): Json<RunJob>,
) -> Result<Response, ApiError> {
    if job.run_id.is_empty() {
        job.run_id.clone_from(&id);
    }
    if job.run_id != id {
        return Err(ApiError::invalid(format!(
            "the job is of run `{}`, not of `{id}`",
            job.run_id
        )));
    }
    access.store.set_run_job(&job).await?;
    let stored = access.store.get_run_job(&id).await?;
    Ok(match stored {
        Some(job) => wire(&job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}
