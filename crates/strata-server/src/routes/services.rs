//! Deployed services, as their deployers record them.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use strata_store::store::to_wire;
use strata_store::{ServiceRecord, StoreError};

use super::{wire, wire_page};
use crate::auth::{Access, Read, Write};
use crate::errors::ApiError;
use crate::etags::{check_if_match, tagged, weak};
use crate::pages::page_limit;
use crate::state::AppState;

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET services`, sorted by name.
pub(crate) async fn list(
    access: Access<Read>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = page_limit(query.limit)?;
    let page = access
        .store
        .list_services(query.cursor.as_deref(), limit)
        .await?;
    Ok(wire_page(&page))
}

/// `GET services/{name}`, tagged by its current state.
pub(crate) async fn get(
    access: Access<Read>,
    Path((_, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let service = access.store.get_service(&name).await?;
    Ok(tagged(
        &headers,
        StatusCode::OK,
        &weak(&to_wire(&service)),
        false,
        wire(&service),
    ))
}

/// `PUT services/{name}`: records a deployment or its new state (201 new, 200 changed);
/// with `If-Match`, only over the state read.
pub(crate) async fn put(
    access: Access<Write>,
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
    headers: HeaderMap,
    Json(service): Json<ServiceRecord>,
) -> Result<Response, ApiError> {
    if service.name != name {
        return Err(ApiError::invalid(format!(
            "the service is named `{}`, but was sent to service `{name}`",
            service.name
        )));
    }
    let _serialized = if headers.contains_key(http::header::IF_MATCH) {
        Some(
            state
                .conditional
                .lock(&[&access.workspace, "service", &name])
                .await,
        )
    } else {
        None
    };
    let current = match access.store.get_service(&name).await {
        Ok(current) => Some(current),
        Err(StoreError::NotFound { .. }) => None,
        Err(error) => return Err(error.into()),
    };
    match &current {
        Some(current) => check_if_match(&headers, &weak(&to_wire(current)), || {
            format!("Service `{name}`")
        })?,
        None if headers.contains_key(http::header::IF_MATCH) => {
            return Err(ApiError::precondition(
                format!("Service `{name}`"),
                "an existing service",
            ));
        }
        None => {}
    }
    access.store.put_service(&service).await?;
    let stored = access.store.get_service(&name).await?;
    let status = if current.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut response = (status, wire(&stored)).into_response();
    if let Ok(value) = http::HeaderValue::from_str(&weak(&to_wire(&stored))) {
        response.headers_mut().insert(http::header::ETAG, value);
    }
    Ok(response)
}
