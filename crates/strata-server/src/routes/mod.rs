//! The REST API under `/api/v1`, one module per resource.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::StatusCode;
use strata_store::store::{CursorPage, ExactTimes, to_wire_bytes};

use crate::errors::ApiError;
use crate::state::AppState;

pub(crate) mod admin;
pub(crate) mod blobs;
pub(crate) mod environments;
mod jobs;
pub(crate) mod labels;
pub(crate) mod meta;
mod models;
mod packages;
pub(crate) mod runs;
mod services;
pub(crate) mod targets;

const WS: &str = "/api/v1/workspaces/{ws}";

pub(crate) fn routes(state: AppState) -> Router {
    let limit = state.options.max_body_bytes;
    let ws = |path: &str| format!("{WS}{path}");
    let api = Router::new()
        .route("/api/v1/health", get(meta::health))
        .route("/api/v1/me", get(meta::me))
        .route("/api/v1/openapi.json", get(meta::openapi))
        .route("/api/v1/workspaces", get(meta::workspaces))
        .route(&ws("/environments"), get(environments::list))
        .route(&ws("/environments/{name}"), get(environments::latest))
        .route(
            &ws("/environments/{name}/versions"),
            get(environments::versions).post(environments::register),
        )
        .route(
            &ws("/environments/{name}/versions/{version}"),
            get(environments::version).put(environments::put_version),
        )
        .route(
            &ws("/environments/{name}/versions/{version}/locks"),
            get(environments::get_lock).put(environments::put_lock),
        )
        .route(
            &ws("/environments/{name}/versions/{version}/builds"),
            get(environments::builds).post(environments::record_build),
        )
        .route(&ws("/environments/{name}/labels"), get(labels::list))
        .route(
            &ws("/environments/{name}/labels/{label}"),
            get(labels::get).put(labels::put),
        )
        .route(&ws("/locks"), get(packages::latest_locks))
        .route(&ws("/packages/{ecosystem}/{name}"), get(packages::uses))
        .route(&ws("/runs"), get(runs::list).post(runs::create))
        .route(&ws("/runs/{id}"), get(runs::get).patch(runs::update))
        .route(
            &ws("/runs/{id}/metrics"),
            get(runs::metrics).post(runs::add_metrics),
        )
        .route(&ws("/runs/{id}/tags"), get(runs::tags).put(runs::set_tag))
        .route(&ws("/runs/{id}/job"), get(jobs::get).put(jobs::put))
        .route(
            &ws("/runs/{id}/log"),
            get(runs::read_log).post(runs::append_log),
        )
        .route(&ws("/models"), get(models::list))
        .route(&ws("/models/{name}"), get(models::latest))
        .route(&ws("/models/{name}/versions"), post(models::register))
        .route(
            &ws("/models/{name}/versions/{version}"),
            get(models::version),
        )
        .route(&ws("/services"), get(services::list))
        .route(
            &ws("/services/{name}"),
            get(services::get).put(services::put),
        )
        .route(&ws("/targets"), get(targets::list))
        .route(
            &ws("/targets/{name}"),
            get(targets::get)
                .put(targets::attach)
                .delete(targets::detach),
        )
        .route(&ws("/blobs:missing"), post(blobs::missing))
        .route(
            &ws("/blobs/{digest}"),
            put(blobs::upload).get(blobs::download).head(blobs::head),
        )
        .route(&ws("/members"), get(admin::members))
        .route(
            &ws("/members/{user}"),
            put(admin::set_member).delete(admin::remove_member),
        )
        .route(&ws("/tokens"), get(admin::tokens).post(admin::create_token))
        .route(
            &ws("/tokens/{id}"),
            axum::routing::delete(admin::revoke_token),
        )
        .route(&ws("/audit"), get(admin::audit))
        .merge(crate::ui::routes())
        .fallback(no_route)
        .method_not_allowed_fallback(no_method);
    // Blob uploads stream their body and are not limited; everything else is.
    api.layer(DefaultBodyLimit::max(limit)).with_state(state)
}

async fn no_route() -> ApiError {
    let mut error = ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such API route");
    error.details = Box::new(serde_json::json!({"kind": "no_route"}));
    error
}

async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "This route does not accept this method",
    )
}

/// A record's JSON with exact times ([`strata_store::store::to_wire_bytes`]), written
/// straight into the body: no JSON tree is built for a page of a hundred runs.
pub(crate) struct Wire(Vec<u8>);

impl IntoResponse for Wire {
    fn into_response(self) -> Response {
        (
            [(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// A record as JSON with exact times.
pub(crate) fn wire<T: ExactTimes>(record: &T) -> Wire {
    Wire(to_wire_bytes(record))
}

/// A page of records as JSON with exact times.
pub(crate) fn wire_page<T: ExactTimes>(page: &CursorPage<T>) -> Wire {
    Wire(to_wire_bytes(page))
}

/// A path segment that must be an environment version.
pub(crate) fn parse_version(text: &str) -> Result<strata_spec::EnvironmentVersion, ApiError> {
    strata_spec::EnvironmentVersion::parse(text).map_err(|e| ApiError::invalid(e.to_string()))
}
