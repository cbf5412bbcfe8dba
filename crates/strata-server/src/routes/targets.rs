//! Compute targets (Azure ML's compute targets): read by readers, attached and detached by
//! owners, as Azure ML keeps creating compute from its Data Scientist role.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::environments::PageQuery;
use super::{Wire, wire, wire_page};
use crate::auth::{Access, Manage, Read};
use crate::errors::ApiError;
use crate::pages::page_limit;

/// `GET targets`: the attached targets, by name.
pub(crate) async fn list(
    access: Access<Read>,
    Query(query): Query<PageQuery>,
) -> Result<Wire, ApiError> {
    let limit = page_limit(query.limit)?;
    let page = access
        .store
        .list_targets(query.cursor.as_deref(), limit)
        .await?;
    Ok(wire_page(&page))
}

/// `GET targets/{name}`: an attached target, or a built-in one.
pub(crate) async fn get(
    access: Access<Read>,
    Path((_, name)): Path<(String, String)>,
) -> Result<Wire, ApiError> {
    Ok(wire(&access.store.get_target(&name).await?))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "TargetRequest")]
pub(crate) struct AttachBody {
    /// `slurm`, the one kind attached so far.
    kind: String,
    /// The kind's settings, as `strata compute attach` writes them.
    settings: Value,
}

/// `PUT targets/{name}` with `{"kind": ..., "settings": {...}}`: attaches a target under a
/// name nobody took (a taken one is refused: detach it first).
pub(crate) async fn attach(
    access: Access<Manage>,
    Path((_, name)): Path<(String, String)>,
    Json(body): Json<AttachBody>,
) -> Result<(StatusCode, Wire), ApiError> {
    if body.kind != "slurm" {
        return Err(ApiError::invalid(format!(
            "unknown compute target kind `{}`; the kind attached is `slurm`",
            body.kind
        )));
    }
    if !body.settings.is_object() {
        return Err(ApiError::invalid("`settings` must be an object"));
    }
    let record = access
        .store
        .attach_target(&name, &body.kind, &body.settings)
        .await?;
    Ok((StatusCode::CREATED, wire(&record)))
}

/// `DELETE targets/{name}`: detaches it; runs that used it keep their records.
pub(crate) async fn detach(
    access: Access<Manage>,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    access.store.detach_target(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
