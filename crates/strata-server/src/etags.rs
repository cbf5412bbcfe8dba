//! Entity tags: strong and `immutable` for content-addressed resources, weak (`W/"..."`) from
//! the current content for mutable ones; `If-None-Match` → 304 and `If-Match` → 412.

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, ETAG, IF_MATCH, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::errors::ApiError;

/// What an immutable resource's cache headers say.
pub(crate) const IMMUTABLE: &str = "private, max-age=31536000, immutable";

/// The strong tag of content named by its hash.
pub(crate) fn strong(hash: &str) -> String {
    format!("\"{hash}\"")
}

/// The weak tag of a mutable resource's current state (its API form, so whatever the API
/// shows of it changes the tag).
pub(crate) fn weak<T: Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = hex::encode(Sha256::digest(&bytes));
    format!("W/\"{}\"", &digest[..32])
}

fn opaque(tag: &str) -> &str {
    tag.trim().trim_start_matches("W/")
}

fn matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == opaque(etag))
}

/// Whether the client already has this version (`If-None-Match`, weak comparison).
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|header| matches(header, etag))
}

/// Refuses a change when `If-Match` names another version than the current one.
pub(crate) fn check_if_match(
    headers: &HeaderMap,
    current: &str,
    what: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    match headers.get(IF_MATCH).map(|v| v.to_str()) {
        None => Ok(()),
        Some(Ok(header)) if matches(header, current) => Ok(()),
        Some(header) => Err(ApiError::precondition(
            what(),
            header.unwrap_or_default().to_string(),
        )),
    }
}

/// A 304 for a client whose copy is current, else `body` with its tag.
pub(crate) fn tagged(
    headers: &HeaderMap,
    status: StatusCode,
    etag: &str,
    immutable: bool,
    body: impl IntoResponse,
) -> Response {
    let mut response = if not_modified(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (status, body).into_response()
    };
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(ETAG, value);
    }
    let cache = if immutable { IMMUTABLE } else { "no-cache" };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_compare_weakly_and_lists_match() {
        let tag = weak(&serde_json::json!({"a": 1}));
        assert!(tag.starts_with("W/\""));
        assert!(matches(&format!("\"x\", {tag}"), &tag));
        assert!(matches("*", &tag));
        assert!(!matches("W/\"other\"", &tag));
        let mut headers = HeaderMap::new();
        assert!(check_if_match(&headers, &tag, String::new).is_ok());
        headers.insert(IF_MATCH, HeaderValue::from_static("W/\"stale\""));
        assert!(check_if_match(&headers, &tag, String::new).is_err());
    }
}
