//! Who is calling (a bearer token) and what they may do in a workspace (their role).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use http::header::AUTHORIZATION;
use http::request::Parts;
use strata_store::store::{
    Action, Actor, Principal, Role, WorkspaceStore, allows, is_well_formed, token_hash,
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
        Actor {
            user: self.principal.user.clone(),
            token_id: Some(self.principal.token_id.clone()),
            request_id: Some(self.request_id.clone()),
        }
    }

    /// The caller's role in `workspace`: their membership (an admin's is `owner`), narrowed
    /// by the token's own limits. `None` when they may not see the workspace at all.
    pub(crate) async fn role_in(
        &self,
        state: &AppState,
        workspace: &str,
    ) -> Result<Option<Role>, ApiError> {
        let principal = &self.principal;
        if principal
            .workspace
            .as_deref()
            .is_some_and(|only| only != workspace)
        {
            return Ok(None);
        }
        let membership = if principal.admin {
            Some(Role::Owner)
        } else {
            state
                .backends
                .records
                .role_of(&principal.user, workspace)
                .await?
        };
        Ok(membership.map(|role| role.min(principal.max_role.unwrap_or(Role::Owner))))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthenticated("no token; send `Authorization: Bearer <token>`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| {
                ApiError::unauthenticated("the `Authorization` header is not `Bearer <token>`")
            })?;
        if !is_well_formed(token) {
            return Err(ApiError::unauthenticated(
                "the token is malformed (a Strata token starts with `strata_pat_` and ends with its checksum)",
            ));
        }
        let principal = state
            .backends
            .records
            .authenticate(&token_hash(token))
            .await?
            .ok_or_else(|| ApiError::unauthenticated("the token is unknown, revoked or expired"))?;
        if let Some(LoggedUser(slot)) = parts.extensions.get::<LoggedUser>() {
            let _ = slot.set(principal.user.clone());
        }
        Ok(Self {
            principal,
            request_id,
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
        let caller = Caller::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
        let workspace = params
            .get("ws")
            .cloned()
            .ok_or_else(|| ApiError::internal("a workspace route without `{ws}`"))?;
        let Some(role) = caller.role_in(state, &workspace).await? else {
            return Err(ApiError::not_found(format!("Workspace `{workspace}`")));
        };
        if !allows(role, N::ACTION) {
            let needed = match N::ACTION {
                Action::Read => Role::Reader,
                Action::Write => Role::Contributor,
                Action::Manage => Role::Owner,
            };
            return Err(ApiError::forbidden(format!(
                "your role in workspace `{workspace}` is `{role}`; this needs `{needed}`"
            )));
        }
        let store = state
            .backends
            .records
            .workspace(&workspace, caller.actor())
            .await?;
        Ok(Self {
            caller,
            workspace,
            role,
            store,
            needs: PhantomData,
        })
    }
}
