//! Runs, their metrics, tags and combined log.

use axum::Json;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strata_store::store::{CursorPage, LogChunk, RunQuery, RunUpdate, state_tag};
use strata_store::{Metric, RunRecord};

use super::{Wire, wire, wire_page};
use crate::auth::{Access, Read, Write};
use crate::errors::ApiError;
use crate::etags::{if_match, tagged};
use crate::pages::{page_by_key, page_by_position, page_limit};

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    experiment: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET runs`, newest first.
pub(crate) async fn list(
    access: Access<Read>,
    Query(query): Query<ListQuery>,
) -> Result<Wire, ApiError> {
    let limit = page_limit(query.limit)?;
    let filter = RunQuery {
        experiment: query.experiment,
        status: query.status,
    };
    let page = access
        .store
        .list_runs(&filter, query.cursor.as_deref(), limit)
        .await?;
    Ok(wire_page(&page))
}

/// `POST runs`: a run whose snapshot blob is already uploaded.
pub(crate) async fn create(
    access: Access<Write>,
    Json(run): Json<RunRecord>,
) -> Result<Response, ApiError> {
    let run = access.store.create_run(&run).await?;
    let mut response = (StatusCode::CREATED, wire(&run)).into_response();
    if let Ok(value) = http::HeaderValue::from_str(&state_tag(&run)) {
        response.headers_mut().insert(http::header::ETAG, value);
    }
    Ok(response)
}

/// `GET runs/{id}`, tagged by its current state.
pub(crate) async fn get(
    access: Access<Read>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let run = access.store.get_run(&id).await?;
    Ok(tagged(
        &headers,
        StatusCode::OK,
        &state_tag(&run),
        false,
        wire(&run),
    ))
}

/// `PATCH runs/{id}`: a step in its life; with `If-Match`, only from the state read.
pub(crate) async fn update(
    access: Access<Write>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(update): Json<RunUpdate>,
) -> Result<Response, ApiError> {
    // The store compares the tag where it writes, so two requests holding one tag, in this
    // process or another on the same database, cannot both win.
    let run = match if_match(&headers)? {
        Some(tag) => access.store.update_run_if_match(&id, &update, tag).await?,
        None => access.store.update_run(&id, &update).await?,
    };
    let mut response = wire(&run).into_response();
    if let Ok(value) = http::HeaderValue::from_str(&state_tag(&run)) {
        response.headers_mut().insert(http::header::ETAG, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET runs/{id}/metrics`, in the order logged.
pub(crate) async fn metrics(
    access: Access<Read>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Wire, ApiError> {
    let limit = page_limit(query.limit)?;
    let metrics = access.store.run_metrics(&id).await?;
    Ok(wire_page(&page_by_position(
        metrics,
        query.cursor.as_deref(),
        limit,
    )?))
}

/// `POST runs/{id}/metrics`: one batch.
pub(crate) async fn add_metrics(
    access: Access<Write>,
    Path((_, id)): Path<(String, String)>,
    Json(metrics): Json<Vec<Metric>>,
) -> Result<StatusCode, ApiError> {
    access.store.add_metrics(&id, &metrics).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A run tag; `value: null` is a tag without a value.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Tag {
    key: String,
    value: Option<String>,
}

/// `GET runs/{id}/tags`, sorted by key.
pub(crate) async fn tags(
    access: Access<Read>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Json<CursorPage<Tag>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let mut tags: Vec<Tag> = access
        .store
        .run_tags(&id)
        .await?
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Json(page_by_key(
        tags,
        |t| t.key.clone(),
        query.cursor.as_deref(),
        limit,
    )?))
}

/// `PUT runs/{id}/tags`: sets one tag.
pub(crate) async fn set_tag(
    access: Access<Write>,
    Path((_, id)): Path<(String, String)>,
    Json(tag): Json<Tag>,
) -> Result<StatusCode, ApiError> {
    access
        .store
        .set_run_tag(&id, &tag.key, tag.value.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(crate) struct ReadQuery {
    #[serde(default)]
    offset: u64,
    max: Option<u64>,
}

/// `GET runs/{id}/log?offset&max`.
pub(crate) async fn read_log(
    access: Access<Read>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<ReadQuery>,
) -> Result<Json<LogChunk>, ApiError> {
    let max = query.max.unwrap_or(1 << 20).clamp(1, 4 << 20);
    Ok(Json(
        access.store.read_run_log(&id, query.offset, max).await?,
    ))
}

#[derive(Deserialize)]
pub(crate) struct AppendQuery {
    offset: u64,
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "LogAppended")]
pub(crate) struct Appended {
    length: u64,
}

/// `POST runs/{id}/log?offset`: appends the body (text) at `offset`, the log's length.
pub(crate) async fn append_log(
    access: Access<Write>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<AppendQuery>,
    text: String,
) -> Result<Json<Appended>, ApiError> {
    let length = access
        .store
        .append_run_log(&id, query.offset, &text)
        .await?;
    Ok(Json(Appended { length }))
}
