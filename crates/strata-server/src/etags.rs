//! Entity tags: strong and `immutable` for content-addressed resources, weak (`W/"..."`,
//! [`strata_store::store::state_tag`]) from the current content for mutable ones;
//! `If-None-Match` → 304 here, and `If-Match` → 412 from the store, which compares it in the
//! transaction that writes.

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, ETAG, IF_MATCH, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue, StatusCode};
use strata_store::store::tag_matches;

use crate::errors::ApiError;

/// What an immutable resource's cache headers say.
pub(crate) const IMMUTABLE: &str = "private, max-age=31536000, immutable";

/// The strong tag of content named by its hash.
pub(crate) fn strong(hash: &str) -> String {
    format!("\"{hash}\"")
}

/// Whether the client already has this version (`If-None-Match`, weak comparison).
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|header| tag_matches(header, etag))
}

/// The `If-Match` value of a request, which the store compares where it writes.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get(IF_MATCH)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| ApiError::invalid("the `If-Match` header is not ASCII"))
        })
        .transpose()
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
    fn if_match_is_read_and_refused_when_not_text() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers).unwrap(), None);
        headers.insert(IF_MATCH, HeaderValue::from_static("W/\"abc\""));
        assert_eq!(if_match(&headers).unwrap(), Some("W/\"abc\""));
        headers.insert(IF_MATCH, HeaderValue::from_bytes(b"\xff").unwrap());
        assert!(if_match(&headers).is_err());
    }
}
