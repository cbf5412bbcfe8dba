//! A workspace's members, tokens and audit log.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strata_store::store::{
    AuditEvent, AuditQuery, CursorPage, Member, NewToken, Role, TokenRecord, allows,
    generate_token, token_hash,
};
use strata_store::{now_millis, parse_time};

use crate::auth::{Access, Manage, Read};
use crate::errors::ApiError;
use crate::pages::{page_by_key, page_limit};
use crate::state::AppState;

/// How long a token lives when its creator does not say.
const DEFAULT_TOKEN_DAYS: i64 = 90;

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET members`, sorted by user.
pub(crate) async fn members(
    access: Access<Read>,
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<Json<CursorPage<Member>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let mut members = state
        .backends
        .records
        .list_members(&access.workspace)
        .await?;
    members.sort_by(|a, b| a.user.cmp(&b.user));
    Ok(Json(page_by_key(
        members,
        |m| m.user.clone(),
        query.cursor.as_deref(),
        limit,
    )?))
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct MemberRequest {
    role: Role,
}

/// `PUT members/{user}`: adds a member or changes their role (owners only).
pub(crate) async fn set_member(
    access: Access<Manage>,
    State(state): State<AppState>,
    Path((_, user)): Path<(String, String)>,
    Json(request): Json<MemberRequest>,
) -> Result<Json<Member>, ApiError> {
    state
        .backends
        .records
        .set_member(
            &access.workspace,
            &user,
            Some(request.role),
            &access.caller.actor(),
        )
        .await?;
    Ok(Json(Member {
        user,
        role: request.role,
    }))
}

/// `DELETE members/{user}` (owners only).
pub(crate) async fn remove_member(
    access: Access<Manage>,
    State(state): State<AppState>,
    Path((_, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let records = &state.backends.records;
    if records.role_of(&user, &access.workspace).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "Member `{user}` of workspace `{}`",
            access.workspace
        )));
    }
    records
        .set_member(&access.workspace, &user, None, &access.caller.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET tokens`: the workspace's tokens (owners only; never the tokens themselves).
pub(crate) async fn tokens(
    access: Access<Manage>,
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<Json<CursorPage<TokenRecord>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let mut tokens = state
        .backends
        .records
        .list_tokens(Some(&access.workspace))
        .await?;
    tokens.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(page_by_key(
        tokens,
        |t| t.id.clone(),
        query.cursor.as_deref(),
        limit,
    )?))
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenRequest {
    user: String,
    role: Role,
    description: Option<String>,
    /// RFC 3339; at most the creating token's own expiry. Default: 90 days.
    expires_at: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct CreatedToken {
    /// The token itself, shown this once.
    token: String,
    record: TokenRecord,
}

/// `POST tokens`: a token for a member of this workspace, limited to it, with a role no
/// higher than the caller's and an expiry no later than the caller's token's (owners only).
pub(crate) async fn create_token(
    access: Access<Manage>,
    State(state): State<AppState>,
    Json(request): Json<TokenRequest>,
) -> Result<Response, ApiError> {
    let records = &state.backends.records;
    if request.role > access.role {
        return Err(ApiError::forbidden(format!(
            "a token may not carry role `{}`, above your own `{}`",
            request.role, access.role
        )));
    }
    if records
        .role_of(&request.user, &access.workspace)
        .await?
        .is_none()
    {
        return Err(ApiError::invalid(format!(
            "`{}` is not a member of workspace `{}`; add them first",
            request.user, access.workspace
        )));
    }
    let now = now_millis();
    let expires_at = match &request.expires_at {
        Some(text) => parse_time(text).map_err(ApiError::invalid)?,
        None => now + DEFAULT_TOKEN_DAYS * 24 * 3600 * 1000,
    };
    if expires_at <= now {
        return Err(ApiError::invalid("the expiry is in the past"));
    }
    let own = records
        .list_tokens(None)
        .await?
        .into_iter()
        .find(|t| t.id == access.caller.principal.token_id);
    let own_expiry = own.and_then(|t| t.expires_at);
    if let Some(limit) = own_expiry
        && expires_at > limit
    {
        return Err(ApiError::forbidden(format!(
            "a token may not outlive the one creating it (which expires at {})",
            strata_store::format_time(limit)
        )));
    }
    let token =
        generate_token().map_err(|e| ApiError::internal(format!("generating a token: {e}")))?;
    let new = NewToken {
        user: request.user,
        workspace: Some(access.workspace.clone()),
        role: Some(request.role),
        admin: false,
        description: request.description,
        expires_at: Some(expires_at),
    };
    let record = records
        .create_token(&token_hash(&token), &new, &access.caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, record })).into_response())
}

/// `DELETE tokens/{id}`: revokes one of the workspace's tokens (owners only).
pub(crate) async fn revoke_token(
    access: Access<Manage>,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<TokenRecord>, ApiError> {
    let records = &state.backends.records;
    let known = records
        .list_tokens(Some(&access.workspace))
        .await?
        .into_iter()
        .any(|t| t.id == id);
    if !known {
        return Err(ApiError::not_found(format!(
            "Token `{id}` of workspace `{}`",
            access.workspace
        )));
    }
    Ok(Json(
        records.revoke_token(&id, &access.caller.actor()).await?,
    ))
}

/// `GET audit`, newest first: every event of the workspace for owners, one's own for others.
pub(crate) async fn audit(
    access: Access<Read>,
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<Json<CursorPage<AuditEvent>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let filter = AuditQuery {
        workspace: Some(access.workspace.clone()),
        user: (!allows(access.role, strata_store::store::Action::Manage))
            .then(|| access.caller.principal.user.clone()),
    };
    Ok(Json(
        state
            .backends
            .records
            .audit(&filter, query.cursor.as_deref(), limit)
            .await?,
    ))
}
