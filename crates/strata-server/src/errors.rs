//! The one error body of the API, and the one place store errors become HTTP statuses.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use strata_store::StoreError;

/// An error as the API answers it: `{"code", "message", "details"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Boxed: errors travel in every handler's `Result`.
    pub(crate) details: Box<Value>,
    /// The cause of a 5xx, logged with the request id and never sent.
    pub(crate) cause: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    details: &'a Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Box::new(json!({})),
            cause: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::from(StoreError::NotFound { what: what.into() })
    }

    pub(crate) fn forbidden(reason: impl Into<String>) -> Self {
        Self::from(StoreError::Forbidden {
            reason: reason.into(),
        })
    }

    pub(crate) fn unauthenticated(reason: impl Into<String>) -> Self {
        Self::from(StoreError::Unauthenticated {
            reason: reason.into(),
        })
    }

    pub(crate) fn internal(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            )
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Box::new(details);
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        use StatusCode as S;
        let message = error.to_string();
        let api = |status, code| ApiError::new(status, code, message.clone());
        match &error {
            StoreError::NotFound { what } => api(S::NOT_FOUND, "not_found")
                .with_details(json!({"kind": "not_found", "what": what})),
            StoreError::VersionNotFound {
                name,
                version,
                latest,
            } => api(S::NOT_FOUND, "not_found").with_details(json!({
                "kind": "version_not_found", "name": name,
                "version": version.as_str(), "latest": latest.as_str(),
            })),
            StoreError::VersionConflict {
                name,
                version,
                existing,
                new,
            } => api(S::CONFLICT, "conflict").with_details(json!({
                "kind": "version_conflict", "name": name, "version": version.as_str(),
                "existing": existing, "new": new,
            })),
            StoreError::LockDiffers {
                name,
                version,
                here,
                there,
            } => api(S::CONFLICT, "conflict").with_details(json!({
                "kind": "lock_differs", "name": name, "version": version.as_str(),
                "here": here, "there": there,
            })),
            StoreError::Curated { name } => {
                api(S::CONFLICT, "conflict").with_details(json!({"kind": "curated", "name": name}))
            }
            StoreError::LogOffset {
                run,
                offset,
                length,
            } => api(S::CONFLICT, "conflict").with_details(json!({
                "kind": "log_offset", "run": run, "offset": offset, "length": length,
            })),
            StoreError::MissingBlob { what, digest } => api(S::CONFLICT, "missing_blob")
                .with_details(json!({"kind": "missing_blob", "what": what, "digest": digest})),
            StoreError::PreconditionFailed { what, expected } => {
                api(S::PRECONDITION_FAILED, "precondition_failed").with_details(
                    json!({"kind": "precondition_failed", "what": what, "expected": expected}),
                )
            }
            StoreError::Forbidden { reason } => api(S::FORBIDDEN, "forbidden")
                .with_details(json!({"kind": "forbidden", "reason": reason})),
            StoreError::Unauthenticated { reason } => api(S::UNAUTHORIZED, "unauthenticated")
                .with_details(json!({"kind": "unauthenticated", "reason": reason})),
            StoreError::CorruptBlob { digest, actual } => {
                api(S::UNPROCESSABLE_ENTITY, "invalid_request").with_details(
                    json!({"kind": "corrupt_blob", "digest": digest, "actual": actual}),
                )
            }
            StoreError::UnsatisfiableRange {
                digest,
                start,
                end,
                size,
            } => api(S::RANGE_NOT_SATISFIABLE, "invalid_request").with_details(json!({
                "kind": "unsatisfiable_range", "digest": digest, "start": start, "end": end,
                "size": size,
            })),
            StoreError::Credentials { found } => api(S::UNPROCESSABLE_ENTITY, "invalid_request")
                .with_details(json!({"kind": "credentials", "found": found})),
            StoreError::InvalidCursor { cursor } => api(S::BAD_REQUEST, "invalid_request")
                .with_details(json!({"kind": "invalid_cursor", "cursor": cursor})),
            StoreError::InvalidReference { reference, reason } => {
                api(S::BAD_REQUEST, "invalid_request").with_details(
                    json!({"kind": "invalid_reference", "reference": reference, "reason": reason}),
                )
            }
            StoreError::InvalidModelName { name, reason } => api(S::BAD_REQUEST, "invalid_request")
                .with_details(
                    json!({"kind": "invalid_model_name", "name": name, "reason": reason}),
                ),
            StoreError::InvalidLabel { label } => api(S::BAD_REQUEST, "invalid_request")
                .with_details(json!({"kind": "invalid_label", "label": label})),
            StoreError::Spec(_) | StoreError::InvalidWheel { .. } => {
                api(S::UNPROCESSABLE_ENTITY, "invalid_request")
            }
            StoreError::Unavailable { what, .. } => ApiError {
                cause: Some(message.clone()),
                ..ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("{what} is unavailable; try again later"),
                )
            }
            .with_details(json!({"kind": "unavailable", "what": what})),
            StoreError::DiskFull { .. } => ApiError {
                cause: Some(message.clone()),
                ..ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The server's storage is full; try again later",
                )
            }
            .with_details(json!({"kind": "unavailable", "what": "The server's storage"})),
            _ => ApiError::internal(error_chain(&error)),
        }
    }
}

/// An error and its sources, for logs.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            message: &self.message,
            details: &self.details,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(cause) = self.cause {
            // The request-log middleware writes it next to the request id.
            response.extensions_mut().insert(ErrorCause(cause));
        }
        response
    }
}

/// Gives every error answer the one JSON body, including those made outside the handlers
/// (a body that is not valid JSON, too large, a path parameter of the wrong type): their
/// plain-text explanation becomes the message.
pub(crate) async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // JSON errors pass as they are, and so do the pages' own HTML ones.
    let is_formed = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if status.as_u16() < 400 || is_formed {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 << 10)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PRECONDITION_FAILED => "precondition_failed",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let mut error = if status.is_server_error() {
        ApiError {
            cause: Some(text),
            ..ApiError::new(status, code, "Internal server error")
        }
    } else {
        let message = if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("Invalid request")
                .to_string()
        } else {
            text
        };
        ApiError::new(status, code, message)
    };
    error.status = status;
    let mut response = error.into_response();
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_TYPE && name != http::header::CONTENT_LENGTH {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// The hidden cause of a 5xx answer, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct ErrorCause(pub(crate) String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_stable_codes_and_5xx_hide_the_cause() {
        let error = ApiError::from(StoreError::MissingBlob {
            what: "Run `r1`".into(),
            digest: "ab".into(),
        });
        assert_eq!(
            (error.status, error.code),
            (StatusCode::CONFLICT, "missing_blob")
        );
        assert_eq!(error.details["digest"], "ab");
        let error = ApiError::from(StoreError::Backend {
            what: "PostgreSQL".into(),
            message: "password authentication failed for user x".into(),
        });
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.message.contains("password"));
        assert!(error.cause.unwrap().contains("password"));
        let error = ApiError::from(StoreError::Unavailable {
            what: "The blob store".into(),
            message: "connection refused to 10.0.0.1".into(),
        });
        assert_eq!(error.code, "unavailable");
        assert!(!error.message.contains("10.0.0.1"));
    }
}
