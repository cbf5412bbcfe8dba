//! Blob transfer: which are missing, streamed uploads checked against their name, and
//! downloads (with `Range`) of the blobs granted to the workspace, streamed from the store.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, RANGE};
use http::{HeaderMap, HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use strata_store::StoreError;
use strata_store::store::is_digest;
use tokio::io::AsyncWriteExt as _;

use crate::auth::{Access, Read, Write};
use crate::errors::ApiError;
use crate::etags::{IMMUTABLE, not_modified, strong};
use crate::state::AppState;

/// At most this many digests per `blobs:missing` request.
const MAX_DIGESTS: usize = 10_000;

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "MissingBlobsRequest")]
pub(crate) struct MissingRequest {
    digests: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "MissingBlobs")]
pub(crate) struct MissingResponse {
    missing: Vec<String>,
}

fn checked(digest: &str) -> Result<(), ApiError> {
    if is_digest(digest) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "`{}` is not a blob digest (64 lowercase hex digits of SHA-256)",
            digest.chars().take(80).collect::<String>()
        )))
    }
}

/// `POST blobs:missing`: the digests this workspace must upload. A blob stored for another
/// workspace only is missing here too: having its digest does not prove having its bytes.
pub(crate) async fn missing(
    access: Access<Read>,
    State(state): State<AppState>,
    Json(request): Json<MissingRequest>,
) -> Result<Json<MissingResponse>, ApiError> {
    if request.digests.len() > MAX_DIGESTS {
        return Err(ApiError::invalid(format!(
            "{} digests in one request; ask about at most {MAX_DIGESTS}",
            request.digests.len()
        )));
    }
    let records = &state.backends.records;
    let mut granted = Vec::new();
    let mut missing = Vec::new();
    for digest in request.digests {
        checked(&digest)?;
        if records.blob_granted(&access.workspace, &digest).await? {
            granted.push(digest);
        } else if !missing.contains(&digest) {
            missing.push(digest);
        }
    }
    // Granted but gone from storage (a restored bucket, say): upload again.
    for digest in state.backends.blobs.missing(&granted).await? {
        if !missing.contains(&digest) {
            missing.push(digest);
        }
    }
    Ok(Json(MissingResponse { missing }))
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "BlobUploaded")]
pub(crate) struct Uploaded {
    digest: String,
    size: u64,
}

/// `PUT blobs/{digest}`: the body is hashed while it streams to a temporary file; a body
/// that hashes to anything else is refused (422) and nothing is stored. Once stored, the blob
/// is granted to the workspace: never before, so no record can point at a blob not stored.
pub(crate) async fn upload(
    access: Access<Write>,
    State(state): State<AppState>,
    Path((_, digest)): Path<(String, String)>,
    body: Body,
) -> Result<Response, ApiError> {
    checked(&digest)?;
    let staging = &state.options.temp_dir;
    let temp = tempfile::NamedTempFile::new_in(staging).map_err(|e| {
        ApiError::from(StoreError::Io {
            path: staging.clone(),
            source: e,
        })
    })?;
    let io_error = |e: std::io::Error| {
        ApiError::from(StoreError::Io {
            path: temp.path().to_path_buf(),
            source: e,
        })
    };
    let mut file = tokio::fs::File::from_std(temp.reopen().map_err(io_error)?);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(format!("the upload broke off: {e}")))?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io_error)?;
    }
    file.flush().await.map_err(io_error)?;
    drop(file);
    let actual = hex::encode(hasher.finalize());
    if actual != digest {
        return Err(StoreError::CorruptBlob { digest, actual }.into());
    }
    state.backends.blobs.put_file(&digest, temp.path()).await?;
    state
        .backends
        .records
        .grant_blob(&access.workspace, &digest)
        .await?;
    Ok((StatusCode::CREATED, Json(Uploaded { digest, size })).into_response())
}

async fn granted_size(
    access: &Access<Read>,
    state: &AppState,
    digest: &str,
) -> Result<u64, ApiError> {
    checked(digest)?;
    let gone = || ApiError::not_found(format!("Blob `{digest}`"));
    if !state
        .backends
        .records
        .blob_granted(&access.workspace, digest)
        .await?
    {
        return Err(gone());
    }
    state.backends.blobs.size(digest).await?.ok_or_else(gone)
}

fn blob_headers(response: &mut Response, digest: &str) {
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&strong(digest)) {
        headers.insert(ETAG, etag);
    }
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static(IMMUTABLE),
    );
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
}

/// `HEAD blobs/{digest}`: its size, if the workspace may read it.
pub(crate) async fn head(
    access: Access<Read>,
    State(state): State<AppState>,
    Path((_, digest)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let size = granted_size(&access, &state, &digest).await?;
    let mut response = StatusCode::OK.into_response();
    blob_headers(&mut response, &digest);
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(size));
    Ok(response)
}

/// Which bytes a `Range` header asks for: `Ok(None)` for all of them (no header, or one
/// this server does not serve partially, such as several ranges), `Err` when unsatisfiable.
fn requested_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let suffix: u64 = suffix.parse().map_err(|_| ())?;
            if suffix == 0 {
                return Err(());
            }
            (size.saturating_sub(suffix), size.checked_sub(1).ok_or(())?)
        }
        (start, "") => (
            start.parse().map_err(|_| ())?,
            size.checked_sub(1).ok_or(())?,
        ),
        (start, end) => {
            let start: u64 = start.parse().map_err(|_| ())?;
            let end: u64 = end.parse().map_err(|_| ())?;
            (start, end.min(size.saturating_sub(1)))
        }
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `GET blobs/{digest}`: the verified bytes, or the `Range` asked for (206).
pub(crate) async fn download(
    access: Access<Read>,
    State(state): State<AppState>,
    Path((_, digest)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let size = granted_size(&access, &state, &digest).await?;
    if not_modified(&headers, &strong(&digest)) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        blob_headers(&mut response, &digest);
        return Ok(response);
    }
    let range = match requested_range(&headers, size) {
        Ok(range) => range,
        Err(()) => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "invalid_request",
                format!("The range is outside the blob's {size} bytes"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(CONTENT_RANGE, value);
            }
            return Ok(response);
        }
    };
    // Streamed from the store as it is read: a range as stored (blobs are verified when
    // they are stored, and a range cannot be hashed alone), a whole blob verified on the
    // way, its last chunk held back until it matches its name.
    let blobs = &state.backends.blobs;
    let (status, start, length, stream) = match range {
        Some((start, end)) => (
            StatusCode::PARTIAL_CONTENT,
            start,
            end - start + 1,
            blobs.open_range(&digest, start..end + 1).await?,
        ),
        None => (StatusCode::OK, 0, size, blobs.open(&digest).await?),
    };
    // A failure mid-stream can only cut the body short (the status is sent); it is logged
    // and the client, which counts `Content-Length` and checks the digest, sees it.
    let logged = digest.clone();
    let stream = stream.inspect(move |chunk| {
        if let Err(error) = chunk {
            tracing::error!(digest = %logged, error = %crate::errors::error_chain(error), "a blob download broke off");
        }
    });
    let mut response = (status, Body::from_stream(stream)).into_response();
    blob_headers(&mut response, &digest);
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(value) =
            HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + length - 1))
    {
        headers.insert(CONTENT_RANGE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(RANGE, HeaderValue::from_str(value).unwrap());
        requested_range(&headers, size)
    }

    #[test]
    fn ranges_are_parsed_and_bounded() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=95-200", 100), Ok(Some((95, 99))));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=5-2", 100), Err(()));
        assert_eq!(range("bytes=x-", 100), Err(()));
        assert_eq!(requested_range(&HeaderMap::new(), 100), Ok(None));
    }
}
