//! The server itself: health, the caller, the API description, the caller's workspaces.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use strata_store::store::{CursorPage, WorkspaceInfo};

use crate::auth::Caller;
use crate::errors::{ApiError, error_chain};
use crate::pages::{page_by_key, page_limit};
use crate::state::AppState;

/// The answer of a server whose database answers.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Health {
    status: HealthStatus,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum HealthStatus {
    Ok,
}

/// `GET /health`: 200 when the database answers, 503 when it does not. No token needed.
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    match state.backends.records.ping().await {
        Ok(()) => Json(Health {
            status: HealthStatus::Ok,
        })
        .into_response(),
        Err(error) => {
            let mut api = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The database is unavailable",
            );
            api.details = Box::new(json!({"kind": "unavailable", "what": "The database"}));
            api.cause = Some(error_chain(&error));
            api.into_response()
        }
    }
}

/// `GET /me`: whom the token belongs to.
pub(crate) async fn me(caller: Caller) -> Json<strata_store::store::Principal> {
    Json(caller.principal)
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /workspaces`: those the caller (and their token) may open; all of them for admins.
pub(crate) async fn workspaces(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<CursorPage<WorkspaceInfo>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let principal = &caller.principal;
    let user = (!principal.admin).then_some(principal.user.as_str());
    let mut listed = state.backends.records.list_workspaces(user).await?;
    listed.retain(|w| {
        principal
            .workspace
            .as_deref()
            .is_none_or(|only| only == w.name)
    });
    for workspace in &mut listed {
        workspace.role = caller.role_in(&state, &workspace.name).await?;
    }
    listed.retain(|w| w.role.is_some());
    Ok(Json(page_by_key(
        listed,
        |w| w.name.clone(),
        query.cursor.as_deref(),
        limit,
    )?))
}
