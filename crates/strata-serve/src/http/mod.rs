//! The HTTP side: azmlinfsrv's routes, status codes, bodies and headers, row by row of its
//! contract (`reference/serving/CONTRACT.md`), plus what it lacks: keep-alive, a body limit (413),
//! a bounded queue (503), a request timeout (504), `/health/live` and `/health/ready`.
//!
//! How `/score` calls `run()` depends on the script (see [`crate::worker::Mode`]): with the body,
//! with the members of a JSON body (`@input_schema`), or with the whole request (`@rawhttp`, which
//! also gets `HEAD` and `OPTIONS`). `run()` may answer with a response of its own (`AMLResponse`),
//! whose status, headers and bytes go out as they are, or with a generator, streamed.
//!
//! Deliberate differences: a form-encoded body reaches an undecorated `run()` as sent
//! (azmlinfsrv's Flask consumes it and passes an empty string); header names go out in lower case
//! (`traceid`); the deprecation warning for `x-ms-request-id` is logged once, not per request; an
//! error of the inference-schema decorators is a 400 with their message, not a 500.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use hyper::body::{Body as _, Incoming};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub(crate) use self::body::Body;
use self::cors::Cors;
use self::ids::RequestIds;
pub(crate) use self::swagger::{ServiceInfo, Swagger};
use crate::log::Log;
use crate::pool::{Job, Outcome, PoolHandle};
use crate::protocol::ResponseHead;
use crate::worker::{Mode, ScoreRequest};
use crate::{protocol, pyjson};

mod body;
mod cors;
mod ids;
mod swagger;

const X_MS_RUN_FUNCTION_FAILED: HeaderName = HeaderName::from_static("x-ms-run-function-failed");
const X_MS_RUN_FN_EXEC_MS: HeaderName = HeaderName::from_static("x-ms-run-fn-exec-ms");

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const TRUE: HeaderValue = HeaderValue::from_static("True");
const FALSE: HeaderValue = HeaderValue::from_static("False");

const NOT_FOUND: &str = "The requested URL was not found on the server. If you entered the URL \
    manually please check your spelling and try again.";
const METHOD_NOT_ALLOWED: &str = "The method is not allowed for the requested URL.";
const RUN_FAILED: &str =
    "An unexpected error occurred in scoring script. Check the logs for more info.";
const INTERNAL_ERROR: &str = "An unexpected internal error occurred. Check the logs for more info.";
const WORKER_DIED: &str =
    "The scoring worker exited while handling the request. Check the logs for more info.";
const OVER_MEMORY: &str =
    "The scoring worker exceeded its memory limit and was restarted. Check the logs for more info.";
const QUEUE_FULL: &str = "The server is busy: too many requests are waiting. Try again later.";
const STOPPING: &str = "The server is shutting down.";

/// Everything a request needs.
pub(crate) struct AppState {
    pub(crate) pool: PoolHandle,
    pub(crate) request_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) swagger: RwLock<Arc<Swagger>>,
    pub(crate) log: Log,
    /// `x-ms-server-version`, unless turned off.
    pub(crate) server_version: Option<HeaderValue>,
    pub(crate) legacy_warned: AtomicBool,
    cors: Cors,
}

/// Settings of the HTTP side.
pub(crate) struct HttpSettings {
    pub(crate) request_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) server_version_header: bool,
    pub(crate) cors_origins: Vec<String>,
}

impl AppState {
    pub(crate) fn new(
        pool: PoolHandle,
        settings: &HttpSettings,
        swagger: Swagger,
        log: Log,
    ) -> Self {
        Self {
            pool,
            request_timeout: settings.request_timeout,
            max_body_bytes: settings.max_body_bytes,
            swagger: RwLock::new(Arc::new(swagger)),
            log,
            server_version: settings
                .server_version_header
                .then(|| HeaderValue::from_static(concat!("strata/", env!("CARGO_PKG_VERSION")))),
            legacy_warned: AtomicBool::new(false),
            cors: Cors::new(&settings.cors_origins),
        }
    }
}

/// The service for one connection from `remote`.
pub(crate) async fn service(
    state: Arc<AppState>,
    request: Request<Incoming>,
    remote: Option<std::net::SocketAddr>,
) -> Result<Response<Body>, Infallible> {
    let asked = state.cors.enabled().then(|| request.headers().clone());
    let mut response = handle(&state, request, remote).await;
    if let Some(asked) = asked {
        state.cors.apply(&asked, response.headers_mut());
    }
    Ok(response)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Root,
    Score,
    Swagger,
    Live,
    Ready,
    Unknown,
}

fn route(path: &str) -> Route {
    match path {
        "/" => Route::Root,
        "/score" => Route::Score,
        "/swagger.json" => Route::Swagger,
        "/health/live" => Route::Live,
        "/health/ready" => Route::Ready,
        path if path.contains('%') => {
            let decoded = percent_decode(path, false);
            if decoded.contains('%') {
                Route::Unknown
            } else {
                route(&decoded)
            }
        }
        _ => Route::Unknown,
    }
}

async fn handle(
    state: &AppState,
    request: Request<Incoming>,
    remote: Option<std::net::SocketAddr>,
) -> Response<Body> {
    let start = Instant::now();
    let method = request.method();
    match (route(request.uri().path()), method) {
        (Route::Root, &Method::GET | &Method::HEAD) => {
            with_ids(state, &request, || text(StatusCode::OK, "Healthy"))
        }
        (Route::Root | Route::Swagger, &Method::OPTIONS) => with_ids(state, &request, allow),
        (Route::Score, &Method::GET | &Method::POST | &Method::HEAD | &Method::OPTIONS) => {
            let method = request.method().clone();
            let uri = request.uri().clone();
            let response = score(state, request, remote, start).await;
            access(state, &method, &uri, &response, start);
            response
        }
        (Route::Swagger, &Method::GET | &Method::HEAD) => {
            let response = with_ids(state, &request, || swagger(state, request.uri()));
            access(state, request.method(), request.uri(), &response, start);
            response
        }
        (Route::Live, &Method::GET | &Method::HEAD) => json(
            StatusCode::OK,
            Bytes::from_static(b"{\"status\": \"live\"}"),
        ),
        (Route::Ready, &Method::GET | &Method::HEAD) => ready(state),
        (Route::Unknown, _) => routing_error(StatusCode::NOT_FOUND, NOT_FOUND),
        _ => routing_error(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED),
    }
}

/// A response on one of azmlinfsrv's own routes: request ids checked first (431), then the
/// server version and the ids added.
fn with_ids(
    state: &AppState,
    request: &Request<Incoming>,
    respond: impl FnOnce() -> Response<Body>,
) -> Response<Body> {
    let (ids, too_long) = read_ids(state, request);
    let mut response = match too_long {
        Some(message) => error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message, false),
        None => respond(),
    };
    ids.apply(response.headers_mut(), state.server_version.as_ref());
    response
}

fn read_ids(state: &AppState, request: &Request<Incoming>) -> (RequestIds, Option<&'static str>) {
    let (ids, too_long) = RequestIds::read(request.headers());
    if ids.legacy_used && !state.legacy_warned.swap(true, Ordering::Relaxed) {
        state.log.warn(
            "strata-serve",
            "x-ms-request-id header has been deprecated and will be removed from future versions \
             of the server. Please use x-ms-client-request-id. (logged once)",
        );
    }
    (ids, too_long)
}

async fn score(
    state: &AppState,
    request: Request<Incoming>,
    remote: Option<std::net::SocketAddr>,
    start: Instant,
) -> Response<Body> {
    let (ids, too_long) = read_ids(state, &request);
    let mut response = match too_long {
        Some(message) => error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message, false),
        None => run_score(state, request, remote, start).await,
    };
    ids.apply(response.headers_mut(), state.server_version.as_ref());
    response
}

async fn run_score(
    state: &AppState,
    request: Request<Incoming>,
    remote: Option<std::net::SocketAddr>,
    start: Instant,
) -> Response<Body> {
    let mode = state.pool.mode();
    if !mode.runs(request.method()) {
        if request.method() == Method::OPTIONS {
            let mut response = text(StatusCode::OK, "");
            response
                .headers_mut()
                .insert(X_MS_RUN_FUNCTION_FAILED, FALSE);
            return response;
        }
        // azmlinfsrv's handler refuses HEAD with its own message.
        return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", false);
    }
    let (parts, body) = request.into_parts();
    let payload = if parts.method == Method::POST || mode == Mode::Raw {
        match read_body(body, state.max_body_bytes).await {
            Ok(payload) => payload,
            Err(BodyError::TooLarge) => {
                let message = format!(
                    "The request body is larger than the limit of {} bytes.",
                    state.max_body_bytes
                );
                return error(StatusCode::PAYLOAD_TOO_LARGE, &message, false);
            }
            Err(BodyError::Broken) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "The request body could not be read.",
                    false,
                );
            }
        }
    } else {
        Bytes::new()
    };
    let (reply, outcome) = oneshot::channel();
    let job = Job {
        request: ScoreRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: payload,
            remote,
        },
        reply,
    };
    if let Err(refused) = state.pool.queue.try_send(job) {
        let message = match refused {
            mpsc::error::TrySendError::Full(_) => QUEUE_FULL,
            mpsc::error::TrySendError::Closed(_) => STOPPING,
        };
        return error(StatusCode::SERVICE_UNAVAILABLE, message, false);
    }
    match tokio::time::timeout_at(start + state.request_timeout, outcome).await {
        Ok(Ok(outcome)) => respond(state, outcome),
        Ok(Err(_)) => error(StatusCode::SERVICE_UNAVAILABLE, STOPPING, false),
        Err(_) => respond(state, Outcome::Timeout),
    }
}

fn respond(state: &AppState, outcome: Outcome) -> Response<Body> {
    match outcome {
        Outcome::Ok { body, run_nanos } => {
            let mut response = json(StatusCode::OK, body);
            let headers = response.headers_mut();
            headers.insert(X_MS_RUN_FUNCTION_FAILED, FALSE);
            if let Some(value) = exec_ms(run_nanos) {
                headers.insert(X_MS_RUN_FN_EXEC_MS, value);
            }
            response
        }
        Outcome::BadInput { body } => {
            let mut response = json(StatusCode::BAD_REQUEST, body);
            response
                .headers_mut()
                .insert(X_MS_RUN_FUNCTION_FAILED, FALSE);
            response
        }
        Outcome::Response {
            head,
            body,
            run_nanos,
        } => {
            let mut response = scripted(&head, Body::full(body));
            if let Some(value) = exec_ms(run_nanos) {
                response.headers_mut().append(X_MS_RUN_FN_EXEC_MS, value);
            }
            response
        }
        Outcome::Stream { head, chunks } => scripted(&head, Body::Stream(chunks)),
        Outcome::Rejected(rejection) => {
            let status = StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::BAD_REQUEST);
            error(status, &rejection.message, false)
        }
        Outcome::RunFailed => error(StatusCode::INTERNAL_SERVER_ERROR, RUN_FAILED, true),
        Outcome::InternalError => error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR, false),
        Outcome::Timeout => {
            let message = format!(
                "Scoring timeout after {} ms",
                state.request_timeout.as_millis()
            );
            error(StatusCode::GATEWAY_TIMEOUT, &message, true)
        }
        Outcome::WorkerDied => error(StatusCode::BAD_GATEWAY, WORKER_DIED, true),
        Outcome::OverMemory => error(StatusCode::SERVICE_UNAVAILABLE, OVER_MEMORY, true),
    }
}

/// `x-ms-run-fn-exec-ms`: milliseconds with 3 decimals.
fn exec_ms(run_nanos: u64) -> Option<HeaderValue> {
    #[expect(clippy::cast_precision_loss, reason = "milliseconds to 3 decimals")]
    let milliseconds = run_nanos as f64 / 1e6;
    HeaderValue::from_str(&format!("{milliseconds:.3}")).ok()
}

/// A response `run()` made: its status and headers as they are, except those the connection
/// owns (`Content-Length`, `Transfer-Encoding`, `Connection`); 500 and above are marked as the
/// script's failure, as azmlinfsrv marks them.
fn scripted(head: &ResponseHead, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(head.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in &head.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        headers.append(name, value);
    }
    if head.status >= 500 {
        headers.insert(X_MS_RUN_FUNCTION_FAILED, TRUE);
    } else if !headers.contains_key(X_MS_RUN_FUNCTION_FAILED) {
        headers.insert(X_MS_RUN_FUNCTION_FAILED, FALSE);
    }
    response
}

fn swagger(state: &AppState, uri: &Uri) -> Response<Body> {
    let version = query_value(uri.query().unwrap_or(""), "version");
    let version = version.as_deref().unwrap_or("2");
    let documents = state
        .swagger
        .read()
        .map(|documents| Arc::clone(&documents))
        .ok();
    let Some(documents) = documents else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR, false);
    };
    match documents.get(version) {
        Ok(document) => {
            let mut response = json(StatusCode::OK, document);
            response
                .headers_mut()
                .insert(X_MS_RUN_FUNCTION_FAILED, FALSE);
            response
        }
        Err(message) => error(StatusCode::NOT_FOUND, &message, false),
    }
}

fn ready(state: &AppState) -> Response<Body> {
    let ready = state.pool.ready();
    let workers = state.pool.workers;
    let (status, word) = if ready >= workers {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    };
    let body = format!("{{\"status\": \"{word}\", \"workers\": {workers}, \"ready\": {ready}}}");
    json(status, Bytes::from(body))
}

/// The access line azmlinfsrv logs for `/score` and `/swagger.json`:
/// `POST /score 200 2.385ms 20`.
fn access(state: &AppState, method: &Method, uri: &Uri, response: &Response<Body>, start: Instant) {
    let elapsed = start.elapsed();
    let length = match response.body().size_hint().exact() {
        Some(length) => length.to_string(),
        None => "N/A".to_string(),
    };
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    state.log.info(
        "access",
        format!(
            "{method} {path} {} {}.{:03}ms {length}",
            response.status().as_u16(),
            elapsed.as_millis(),
            elapsed.subsec_micros() % 1000
        ),
    );
}

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::full(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HTML);
    response
}

/// Flask's automatic answer to `OPTIONS` on a route without an explicit one.
fn allow() -> Response<Body> {
    let mut response = text(StatusCode::OK, "");
    response.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    response
}

/// azmlinfsrv's `ErrorResponse`: `{"message": ...}` with `x-ms-run-function-failed`.
fn error(status: StatusCode, message: &str, run_failed: bool) -> Response<Body> {
    let mut response = json(status, Bytes::from(pyjson::message(message)));
    response.headers_mut().insert(
        X_MS_RUN_FUNCTION_FAILED,
        if run_failed { TRUE } else { FALSE },
    );
    response
}

/// A 404 or 405 from Flask's routing: no request ids, no server version.
fn routing_error(status: StatusCode, message: &'static str) -> Response<Body> {
    error(status, message, false)
}

#[derive(Debug)]
enum BodyError {
    TooLarge,
    Broken,
}

/// The whole body, refused past `limit` (by its `Content-Length` before reading any of it).
async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    let limit = limit.min(protocol::MAX_BODY_LEN);
    let hint = body.size_hint();
    if usize::try_from(hint.lower()).map_or(true, |lower| lower > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        if let Some(buffer) = joined.as_mut() {
            buffer.extend_from_slice(&data);
        } else if let Some(previous) = first.take() {
            let expected = hint
                .exact()
                .and_then(|exact| usize::try_from(exact).ok())
                .unwrap_or(total);
            let mut buffer = BytesMut::with_capacity(expected.max(total));
            buffer.extend_from_slice(&previous);
            buffer.extend_from_slice(&data);
            joined = Some(buffer);
        } else {
            first = Some(data);
        }
    }
    Ok(match (joined, first) {
        (Some(buffer), _) => buffer.freeze(),
        (None, Some(single)) => single,
        (None, None) => Bytes::new(),
    })
}

/// The first value of a query parameter, decoded as Werkzeug decodes `request.args`.
fn query_value(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(name, _)| percent_decode(name, true) == key)
        .map(|(_, value)| percent_decode(value, true))
}

/// `%XX` escapes (and `+` as a space, in query strings) decoded; invalid UTF-8 replaced.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let high = bytes
                .get(index + 1)
                .and_then(|&digit| char::from(digit).to_digit(16));
            let low = bytes
                .get(index + 2)
                .and_then(|&digit| char::from(digit).to_digit(16));
            if let (Some(high), Some(low)) = (high, low) {
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                index += 3;
                continue;
            }
        }
        out.push(if plus_is_space && byte == b'+' {
            b' '
        } else {
            byte
        });
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_strict_and_percent_decoded() {
        assert_eq!(route("/score"), Route::Score);
        assert_eq!(route("/score/"), Route::Unknown);
        assert_eq!(route("/%73core"), Route::Score);
        assert_eq!(route("/swagger.json"), Route::Swagger);
        assert_eq!(route("/nope"), Route::Unknown);
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_value("version=3.1", "version").as_deref(),
            Some("3.1")
        );
        assert_eq!(
            query_value("a=1&version=%33&version=2", "version").as_deref(),
            Some("3")
        );
        assert_eq!(query_value("version", "version").as_deref(), Some(""));
        assert_eq!(query_value("v=1", "version"), None);
        assert_eq!(percent_decode("a+b%2", true), "a b%2");
    }
}
