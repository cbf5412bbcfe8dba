//! Who is calling (a bearer token) and what they may do in a workspace (their role).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use http::header::AUTHORIZATION;
use http::request::Parts;
use strata_store::store::{
    Action, Actor, Principal, Refusal, RefusalReason, Role, WorkspaceStore, allows, is_well_formed,
    token_hash,
};

use crate::errors::ApiError;
use crate::request_log::{LoggedUser, RequestId};
use crate::state::AppState;

/// An authenticated request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) principal: Principal,
    pub(crate) request_id: String,
}

impl Caller {
    pub(crate) fn actor(&self) -> Actor {
        self.principal.actor(Some(&self.request_id))
    }

    /// The caller's role in `workspace`: their membership (an admin's is `owner`), narrowed
    /// by the token's own limits. `None` when they may not see the workspace at all.
    pub(crate) async fn role_in(
        &self,
        state: &AppState,
        workspace: &str,
    ) -> Result<Option<Role>, ApiError> {
        let membership = if self.principal.admin {
            None
        } else {
            state
                .backends
                .records
                .role_of(&self.principal.user, workspace)
                .await?
        };
        Ok(effective_role(&self.principal, workspace, membership))
    }
}

/// What a principal may do in `workspace` given their membership there: nothing outside the
/// one workspace a token is bound to; an admin is an owner everywhere; and never more than
/// the token's own role cap.
fn effective_role(
    principal: &Principal,
    workspace: &str,
    membership: Option<Role>,
) -> Option<Role> {
    if principal
        .workspace
        .as_deref()
        .is_some_and(|only| only != workspace)
    {
        return None;
    }
    let role = if principal.admin {
        Some(Role::Owner)
    } else {
        membership
    };
    role.map(|role| role.min(principal.max_role.unwrap_or(Role::Owner)))
}

/// Why a request has no usable token.
enum NoBearer {
    Missing,
    Malformed(&'static str),
}

impl NoBearer {
    fn error(&self) -> ApiError {
        match self {
            Self::Missing => {
                ApiError::unauthenticated("no token; send `Authorization: Bearer <token>`")
            }
            Self::Malformed(reason) => ApiError::unauthenticated(*reason),
        }
    }

    fn reason(&self) -> RefusalReason {
        match self {
            Self::Missing => RefusalReason::NoToken,
            Self::Malformed(_) => RefusalReason::MalformedToken,
        }
    }
}

/// The bearer token of a request, checked for its form.
fn bearer(parts: &Parts) -> Result<&str, NoBearer> {
    let header = parts.headers.get(AUTHORIZATION).ok_or(NoBearer::Missing)?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(NoBearer::Malformed(
            "the `Authorization` header is not `Bearer <token>`",
        ))?;
    if !is_well_formed(token) {
        return Err(NoBearer::Malformed(
            "the token is malformed (a Strata token starts with `strata_pat_` and ends with its checksum)",
        ));
    }
    Ok(token)
}

/// The address a request came from, when the server knows it.
fn client(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string())
}

/// What the audit row of a refused request says about the request itself.
pub(crate) struct Asked {
    /// `METHOD /path`, without the query string.
    pub(crate) resource: String,
    pub(crate) request_id: String,
    pub(crate) client: Option<String>,
}

impl Asked {
    fn of(parts: &Parts) -> Self {
        Self {
            resource: format!("{} {}", parts.method, parts.uri.path()),
            request_id: request_id(parts),
            client: client(parts),
        }
    }
}

/// Audits a refused request (as [`crate::refusals`] limits it) and returns `error`.
async fn refuse(
    parts: &Parts,
    state: &AppState,
    reason: RefusalReason,
    workspace: Option<&str>,
    error: ApiError,
) -> ApiError {
    audit_refusal(state, Asked::of(parts), reason, workspace).await;
    error
}

/// Audits a refused request, as [`crate::refusals`] limits it.
pub(crate) async fn audit_refusal(
    state: &AppState,
    asked: Asked,
    reason: RefusalReason,
    workspace: Option<&str>,
) {
    // Whose refusals count together: the token when there is one, else the address.
    let key = match &reason {
        RefusalReason::Token { token_hash } => format!("token {token_hash}"),
        RefusalReason::NotMember { principal } | RefusalReason::Forbidden { principal } => {
            format!(
                "role {} {}",
                principal.token_id,
                workspace.unwrap_or_default()
            )
        }
        RefusalReason::NoToken | RefusalReason::MalformedToken | RefusalReason::Suppressed => {
            format!(
                "{reason:?} {}",
                asked.client.as_deref().unwrap_or("unknown")
            )
        }
    };
    let refusal = Refusal {
        reason,
        workspace: workspace.map(str::to_string),
        resource: asked.resource,
        request_id: Some(asked.request_id),
        client: asked.client,
        repeats: 0,
    };
    state
        .refusals
        .record(state.backends.records.as_ref(), &key, refusal)
        .await;
}

fn request_id(parts: &Parts) -> String {
    parts
        .extensions
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default()
}

fn log_user(parts: &Parts, user: &str) {
    if let Some(LoggedUser(slot)) = parts.extensions.get::<LoggedUser>() {
        let _ = slot.set(user.to_string());
    }
}

const REFUSED_TOKEN: &str = "the token is unknown, revoked or expired";

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = match bearer(parts) {
            Ok(token) => token.to_string(),
            Err(refused) => {
                return Err(refuse(parts, state, refused.reason(), None, refused.error()).await);
            }
        };
        let hash = token_hash(&token);
        let Some(principal) = state.backends.records.authenticate(&hash).await? else {
            let reason = RefusalReason::Token { token_hash: hash };
            let error = ApiError::unauthenticated(REFUSED_TOKEN);
            return Err(refuse(parts, state, reason, None, error).await);
        };
        log_user(parts, &principal.user);
        Ok(Self {
            principal,
            request_id: request_id(parts),
        })
    }
}

/// What an endpoint needs a caller's role to allow.
pub(crate) trait Needs: Send + Sync {
    const ACTION: Action;
}

pub(crate) struct Read;
pub(crate) struct Write;
pub(crate) struct Manage;

impl Needs for Read {
    const ACTION: Action = Action::Read;
}
impl Needs for Write {
    const ACTION: Action = Action::Write;
}
impl Needs for Manage {
    const ACTION: Action = Action::Manage;
}

/// A caller allowed to do `N` in the workspace of the path's `{ws}`, with its records.
/// Extracted before any body, so a refused request never gets as far as parsing one.
pub(crate) struct Access<N> {
    pub(crate) caller: Caller,
    pub(crate) workspace: String,
    pub(crate) role: Role,
    pub(crate) store: Arc<dyn WorkspaceStore>,
    needs: PhantomData<N>,
}

impl<N: Needs> FromRequestParts<AppState> for Access<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
        let workspace = params
            .get("ws")
            .cloned()
            .ok_or_else(|| ApiError::internal("a workspace route without `{ws}`"))?;
        let token = match bearer(parts) {
            Ok(token) => token.to_string(),
            Err(refused) => {
                let (reason, error) = (refused.reason(), refused.error());
                return Err(refuse(parts, state, reason, Some(&workspace), error).await);
            }
        };
        let request_id = request_id(parts);
        // The token, the membership and the workspace in one lookup.
        let hash = token_hash(&token);
        let Some(authorized) = state
            .backends
            .records
            .authorize(&hash, &workspace, Some(&request_id))
            .await?
        else {
            let reason = RefusalReason::Token { token_hash: hash };
            let error = ApiError::unauthenticated(REFUSED_TOKEN);
            return Err(refuse(parts, state, reason, Some(&workspace), error).await);
        };
        log_user(parts, &authorized.principal.user);
        let not_found = || ApiError::not_found(format!("Workspace `{workspace}`"));
        let role = effective_role(&authorized.principal, &workspace, authorized.membership);
        let (Some(role), Some(store)) = (role, authorized.records) else {
            let reason = RefusalReason::NotMember {
                principal: authorized.principal,
            };
            return Err(refuse(parts, state, reason, Some(&workspace), not_found()).await);
        };
        if !allows(role, N::ACTION) {
            let needed = match N::ACTION {
                Action::Read => Role::Reader,
                Action::Write => Role::Contributor,
                Action::Manage => Role::Owner,
            };
            let error = ApiError::forbidden(format!(
                "your role in workspace `{workspace}` is `{role}`; this needs `{needed}`"
            ));
            let reason = RefusalReason::Forbidden {
                principal: authorized.principal,
            };
            return Err(refuse(parts, state, reason, Some(&workspace), error).await);
        }
        Ok(Self {
            caller: Caller {
                principal: authorized.principal,
                request_id,
            },
            workspace,
            role,
            store,
            needs: PhantomData,
        })
    }
}
