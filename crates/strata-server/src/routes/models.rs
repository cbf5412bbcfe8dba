//! Registered models.

use axum::Json;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use strata_store::ModelRecord;

use super::{Wire, wire, wire_page};
use crate::auth::{Access, Read, Write};
use crate::errors::ApiError;
use crate::pages::page_limit;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    cursor: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    all_versions: bool,
}

/// `GET models`: the latest version of each, or every version.
pub(crate) async fn list(
    access: Access<Read>,
    Query(query): Query<ListQuery>,
) -> Result<Wire, ApiError> {
    let limit = page_limit(query.limit)?;
    let page = access
        .store
        .list_models(query.all_versions, query.cursor.as_deref(), limit)
        .await?;
    Ok(wire_page(&page))
}

/// `GET models/{name}`: the latest version.
pub(crate) async fn latest(
    access: Access<Read>,
    Path((_, name)): Path<(String, String)>,
) -> Result<Wire, ApiError> {
    Ok(wire(&access.store.get_model(&name, None).await?))
}

/// `POST models/{name}/versions`: the next version of a model whose manifest is uploaded.
pub(crate) async fn register(
    access: Access<Write>,
    Path((_, name)): Path<(String, String)>,
    Json(model): Json<ModelRecord>,
) -> Result<Response, ApiError> {
    if model.name != name {
        return Err(ApiError::invalid(format!(
            "the model is named `{}`, but was sent to model `{name}`",
            model.name
        )));
    }
    let model = access.store.register_model(model).await?;
    Ok((StatusCode::CREATED, wire(&model)).into_response())
}

/// `GET models/{name}/versions/{version}`.
pub(crate) async fn version(
    access: Access<Read>,
    Path((_, name, version)): Path<(String, String, String)>,
) -> Result<Wire, ApiError> {
    let number = version
        .parse::<u64>()
        .map_err(|_| ApiError::invalid(format!("model version `{version}` is not a number")))?;
    Ok(wire(&access.store.get_model(&name, Some(number)).await?))
}
