//! Deployed services, as their deployers record them.

use axum::Json;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use strata_store::store::state_tag;
use strata_store::{ServiceRecord, StoreError};

use super::{Wire, wire, wire_page};
use crate::auth::{Access, Read, Write};
use crate::errors::ApiError;
use crate::etags::{if_match, tagged};
use crate::pages::page_limit;

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET services`, sorted by name.
pub(crate) async fn list(
    access: Access<Read>,
    Query(query): Query<PageQuery>,
) -> Result<Wire, ApiError> {
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
        &state_tag(&service),
        false,
        wire(&service),
    ))
}

/// `PUT services/{name}`: records a deployment or its new state (201 new, 200 changed);
/// with `If-Match`, only over the state read.
pub(crate) async fn put(
    access: Access<Write>,
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
    // With `If-Match` the store compares the tag where it writes (see `runs::update`); the
    // service then exists, so the answer is 200.
    let created = match if_match(&headers)? {
        Some(tag) => {
            access.store.put_service_if_match(&service, tag).await?;
            false
        }
        None => {
            let created = match access.store.get_service(&name).await {
                Ok(_) => false,
                Err(StoreError::NotFound { .. }) => true,
                Err(error) => return Err(error.into()),
            };
            access.store.put_service(&service).await?;
            created
        }
    };
    let stored = access.store.get_service(&name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, wire(&stored)).into_response();
    if let Ok(value) = http::HeaderValue::from_str(&state_tag(&stored)) {
        response.headers_mut().insert(http::header::ETAG, value);
    }
    Ok(response)
}
