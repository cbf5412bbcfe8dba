//! The workspace pages on a team server, under `/w/{ws}/`: the same pages as `strata ui`,
//! read from the server's store, behind a sign-in with a token.
//!
//! Signing in posts a token (never in a URL) and gets a session cookie (`HttpOnly;
//! SameSite=Strict`, scoped to the workspace's path) whose secret only the browser holds; the
//! store keeps its SHA-256. Every page checks the session and the caller's role, exactly as
//! the API does, and the forms that post carry a token derived from the session secret.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{any, get, post};
use futures_util::TryStreamExt as _;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use sha2::{Digest as _, Sha256};
use strata_store::store::{Action, Principal, RefusalReason, allows, is_well_formed, token_hash};
use strata_ui::{Request, Ui, Viewer};

use crate::auth::{Asked, Caller, audit_refusal};
use crate::request_log::{LoggedUser, RequestId};
use crate::state::AppState;

/// The cookie of a signed-in session.
const SESSION_COOKIE: &str = "strata_session";
/// The cookie that ties the sign-in form to the browser that loaded it.
const SIGN_IN_COOKIE: &str = "strata_sign_in";
/// How long a session lasts (never longer than its token).
const SESSION_MILLIS: i64 = 12 * 60 * 60 * 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/w/{ws}", get(to_slash))
        .route("/w/{ws}/login", get(sign_in_form).post(sign_in))
        .route("/w/{ws}/logout", post(sign_out))
        .route("/w/{ws}/", any(page))
        .route("/w/{ws}/{*rest}", any(page))
}

fn base(workspace: &str) -> String {
    format!("/w/{workspace}")
}

fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The token that posting forms of a session carry: derived from the secret only the
/// session's browser holds, so another site can neither read nor compute it.
fn form_token(session_secret: &str) -> String {
    sha256_hex(&format!("strata-form\0{session_secret}"))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for `name` on the workspace's pages; `Secure` when the request came over
/// HTTPS through a reverse proxy (the documented way to serve it).
fn set_cookie(
    headers: &HeaderMap,
    workspace: &str,
    name: &str,
    value: &str,
    max_age: i64,
) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
    format!(
        "{name}={value}; Path={}/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        base(workspace),
        if secure { "; Secure" } else { "" }
    )
}

async fn to_axum(response: strata_ui::Response, head: bool) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut length = None;
    let body = match response.body {
        _ if head => axum::body::Body::empty(),
        strata_ui::Body::Bytes(bytes) => axum::body::Body::from(bytes),
        strata_ui::Body::File(staged) => match tokio::fs::File::open(&staged).await {
            // The staged copy lives as long as its stream.
            Ok(file) => {
                length = file.metadata().await.ok().map(|m| m.len());
                axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file).map_ok(
                    move |chunk| {
                        let _keep = &staged;
                        chunk
                    },
                ))
            }
            Err(error) => {
                return crate::errors::ApiError::internal(format!(
                    "opening a staged download: {error}"
                ))
                .into_response();
            }
        },
    };
    let mut out = (status, body).into_response();
    let headers = out.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(response.content_type),
    );
    if let Some(length) = length {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    for (name, value) in response.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    out
}

fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

fn workspace_of(params: &HashMap<String, String>) -> String {
    params.get("ws").cloned().unwrap_or_default()
}

fn request_id(headers: &RequestId) -> Option<&str> {
    Some(headers.0.as_str())
}

async fn to_slash(Path(params): Path<HashMap<String, String>>) -> Response {
    redirect(&format!("{}/", base(&workspace_of(&params))), &[])
}

/// The sign-in form, with a fresh form token in a cookie of its own.
async fn sign_in_form(Path(params): Path<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let workspace = workspace_of(&params);
    sign_in_response(StatusCode::OK, &workspace, &headers, None).await
}

async fn sign_in_response(
    status: StatusCode,
    workspace: &str,
    headers: &HeaderMap,
    error: Option<&str>,
) -> Response {
    let csrf = random_secret();
    let page = strata_ui::sign_in_page(status.as_u16(), &base(workspace), workspace, &csrf, error);
    let mut response = to_axum(page, false).await;
    if let Ok(value) =
        HeaderValue::from_str(&set_cookie(headers, workspace, SIGN_IN_COOKIE, &csrf, 3600))
    {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

fn form_fields(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Checks the token, starts a session when its holder may read the workspace, and sends the
/// browser to the workspace's start page.
#[expect(
    clippy::too_many_arguments,
    reason = "axum extractors, each a part of the request"
)]
async fn sign_in(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    id: axum::Extension<RequestId>,
    logged: Option<axum::Extension<LoggedUser>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let workspace = workspace_of(&params);
    // A refused sign-in is audited as a refused API request is.
    let asked = || Asked {
        resource: format!("{method} {}", uri.path()),
        request_id: id.0.0.clone(),
        client: peer
            .as_ref()
            .map(|axum::Extension(ConnectInfo(address))| address.ip().to_string()),
    };
    let fields = form_fields(&body);
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    let given = fields.get("csrf").map(String::as_str).unwrap_or_default();
    if expected.is_empty() || !strata_ui::same_secret(given, &expected) {
        return sign_in_response(
            StatusCode::FORBIDDEN,
            &workspace,
            &headers,
            Some("The sign-in form was stale; it has been renewed, send it again."),
        )
        .await;
    }
    let token = fields.get("token").map(|t| t.trim()).unwrap_or_default();
    if !is_well_formed(token) {
        let reason = RefusalReason::MalformedToken;
        audit_refusal(&state, asked(), reason, Some(&workspace)).await;
        return sign_in_response(
            StatusCode::UNAUTHORIZED,
            &workspace,
            &headers,
            Some(
                "That is not a Strata token: one starts with `strata_pat_` and ends with its checksum.",
            ),
        ).await;
    }
    let secret = random_secret();
    let session_hash = sha256_hex(&secret);
    let expires_at = strata_store::now_millis().saturating_add(SESSION_MILLIS);
    let started = state
        .backends
        .records
        .start_session(
            &session_hash,
            &token_hash(token),
            &workspace,
            expires_at,
            request_id(&id),
        )
        .await;
    let refused = "The token is unknown, revoked or expired, or it does not open this workspace.";
    let principal = match started {
        Ok(Some(principal)) => principal,
        Ok(None) | Err(strata_store::StoreError::NotFound { .. }) => {
            let reason = RefusalReason::Token {
                token_hash: token_hash(token),
            };
            audit_refusal(&state, asked(), reason, Some(&workspace)).await;
            return sign_in_response(
                StatusCode::UNAUTHORIZED,
                &workspace,
                &headers,
                Some(refused),
            )
            .await;
        }
        Err(error) => return crate::errors::ApiError::from(error).into_response(),
    };
    if let Some(axum::Extension(LoggedUser(slot))) = logged {
        let _ = slot.set(principal.user.clone());
    }
    match role(&state, &principal, &id, &workspace).await {
        Ok(Some(role)) if allows(role, Action::Read) => {}
        Ok(role) => {
            let _ = state
                .backends
                .records
                .end_session(&session_hash, request_id(&id))
                .await;
            let reason = if role.is_some() {
                RefusalReason::Forbidden { principal }
            } else {
                RefusalReason::NotMember { principal }
            };
            audit_refusal(&state, asked(), reason, Some(&workspace)).await;
            return sign_in_response(
                StatusCode::UNAUTHORIZED,
                &workspace,
                &headers,
                Some(refused),
            )
            .await;
        }
        Err(response) => return response,
    }
    redirect(
        &format!("{}/", base(&workspace)),
        &[
            set_cookie(
                &headers,
                &workspace,
                SESSION_COOKIE,
                &secret,
                SESSION_MILLIS / 1000,
            ),
            set_cookie(&headers, &workspace, SIGN_IN_COOKIE, "", 0),
        ],
    )
}

async fn role(
    state: &AppState,
    principal: &Principal,
    id: &RequestId,
    workspace: &str,
) -> Result<Option<strata_store::store::Role>, Response> {
    let caller = Caller {
        principal: principal.clone(),
        request_id: id.0.clone(),
    };
    caller
        .role_in(state, workspace)
        .await
        .map_err(axum::response::IntoResponse::into_response)
}

async fn sign_out(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    id: axum::Extension<RequestId>,
    body: Bytes,
) -> Response {
    let workspace = workspace_of(&params);
    let login = format!("{}/login", base(&workspace));
    let Some(secret) = cookie(&headers, SESSION_COOKIE) else {
        return redirect(&login, &[]);
    };
    let fields = form_fields(&body);
    let given = fields.get("csrf").map(String::as_str).unwrap_or_default();
    if !strata_ui::same_secret(given, &form_token(&secret)) {
        return (
            StatusCode::FORBIDDEN,
            "The sign-out form was stale; reload the page.",
        )
            .into_response();
    }
    if let Err(error) = state
        .backends
        .records
        .end_session(&sha256_hex(&secret), request_id(&id))
        .await
    {
        return crate::errors::ApiError::from(error).into_response();
    }
    redirect(
        &login,
        &[set_cookie(&headers, &workspace, SESSION_COOKIE, "", 0)],
    )
}

/// Any page: the session's viewer, if they may read the workspace, gets it rendered from the
/// server's store; anyone else is sent to sign in.
#[expect(
    clippy::too_many_arguments,
    reason = "one axum extractor per part of the request"
)]
async fn page(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    id: axum::Extension<RequestId>,
    logged: Option<axum::Extension<LoggedUser>>,
    body: Bytes,
) -> Response {
    let workspace = workspace_of(&params);
    let prefix = base(&workspace);
    let path = uri.path().strip_prefix(&prefix).unwrap_or("/").to_string();
    let head = method == Method::HEAD;
    if let Some(asset) = strata_ui::asset(&path) {
        return to_axum(asset, head).await;
    }
    let login = format!("{prefix}/login");
    let Some(secret) = cookie(&headers, SESSION_COOKIE) else {
        return redirect(&login, &[]);
    };
    let principal = match state
        .backends
        .records
        .session(&sha256_hex(&secret), &workspace)
        .await
    {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            return redirect(
                &login,
                &[set_cookie(&headers, &workspace, SESSION_COOKIE, "", 0)],
            );
        }
        Err(error) => return crate::errors::ApiError::from(error).into_response(),
    };
    if let Some(axum::Extension(LoggedUser(slot))) = logged {
        let _ = slot.set(principal.user.clone());
    }
    let role = match role(&state, &principal, &id, &workspace).await {
        Ok(Some(role)) if allows(role, Action::Read) => role,
        Ok(_) => {
            return redirect(
                &login,
                &[set_cookie(&headers, &workspace, SESSION_COOKIE, "", 0)],
            );
        }
        Err(response) => return response,
    };
    let store = match state.backends.records.browse(&workspace).await {
        Ok(store) => store,
        Err(error) => return crate::errors::ApiError::from(error).into_response(),
    };
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: &[u8] = if is_form { &body } else { &[] };
    let request = Request::new(method.as_str(), &path, uri.query(), form);
    let ui = Ui::new(
        store,
        state.backends.blobs.clone(),
        &prefix,
        &workspace,
        &form_token(&secret),
        Some(Viewer {
            user: principal.user,
            role,
        }),
    );
    to_axum(ui.handle(&request).await, head).await
}
