//! Request ids (`x-request-id`, taken from the client when sane, else generated, always
//! echoed) and one structured log line per request: method, path without the query string,
//! status, latency, request id and user, never a header.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

use crate::errors::ErrorCause;

pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The id of the request being handled.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// Who made the request, once their token is checked: for the log line.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoggedUser(pub(crate) Arc<OnceLock<String>>);

fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub(crate) async fn middleware(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| acceptable(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    request.extensions_mut().insert(RequestId(id.clone()));
    let user = LoggedUser::default();
    request.extensions_mut().insert(user.clone());
    let method = request.method().clone();
    // The path only: a query string may carry anything, including what should not be logged.
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let user = user.0.get().map_or("-", String::as_str);
    if let Some(ErrorCause(cause)) = response.extensions_mut().remove::<ErrorCause>() {
        tracing::error!(request_id = %id, %method, %path, status, latency_ms, user = %user, %cause, "request failed");
    } else if status >= 500 {
        tracing::error!(request_id = %id, %method, %path, status, latency_ms, user = %user, "request failed");
    } else {
        tracing::info!(request_id = %id, %method, %path, status, latency_ms, user = %user, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_request_ids_are_kept() {
        assert!(acceptable("3f2a-11:x.y_z"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("a\nInjected: header"));
        assert!(!acceptable(&"a".repeat(129)));
    }
}
