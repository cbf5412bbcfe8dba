//! What only a team server keeps: workspaces, users and their roles, tokens, the audit log.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Actor, BlobStorage, BrowseStore, CursorPage, Role, WorkspaceStore};
use crate::StoreError;

/// Whoever a token belongs to, as a request sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub user: String,
    pub token_id: String,
    /// Server admins create workspaces and users.
    pub admin: bool,
    /// The only workspace the token opens, if it is limited to one.
    pub workspace: Option<String>,
    /// The highest role the token carries, whatever the user's membership.
    pub max_role: Option<Role>,
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub id: String,
    pub user: String,
    pub workspace: Option<String>,
    pub role: Option<Role>,
    pub admin: bool,
    pub description: Option<String>,
    #[schemars(schema_with = "crate::schema::text_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub created_at: i64,
    #[schemars(schema_with = "crate::schema::text_time_or_null")]
    #[serde(
        serialize_with = "crate::workspace::serialize_optional_time",
        deserialize_with = "crate::workspace::deserialize_optional_time",
        default
    )]
    pub expires_at: Option<i64>,
    #[schemars(schema_with = "crate::schema::text_time_or_null")]
    #[serde(
        serialize_with = "crate::workspace::serialize_optional_time",
        deserialize_with = "crate::workspace::deserialize_optional_time",
        default
    )]
    pub last_used_at: Option<i64>,
    #[schemars(schema_with = "crate::schema::text_time_or_null")]
    #[serde(
        serialize_with = "crate::workspace::serialize_optional_time",
        deserialize_with = "crate::workspace::deserialize_optional_time",
        default
    )]
    pub revoked_at: Option<i64>,
}

/// What a new token is for. Creating one makes the user (and, with a workspace and a role,
/// their membership) when they do not exist yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub user: String,
    pub workspace: Option<String>,
    pub role: Option<Role>,
    pub admin: bool,
    pub description: Option<String>,
    /// Milliseconds since the epoch; `None` never expires.
    pub expires_at: Option<i64>,
}

/// A workspace on a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceInfo {
    pub name: String,
    /// The caller's role in it, when listed for a caller.
    pub role: Option<Role>,
    #[schemars(schema_with = "crate::schema::text_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub created_at: i64,
}

/// A user's role in a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user: String,
    pub role: Role,
}

/// One change, written in the same transaction as the change itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: i64,
    #[schemars(schema_with = "crate::schema::text_time")]
    #[serde(
        serialize_with = "crate::workspace::serialize_time",
        deserialize_with = "crate::workspace::deserialize_time"
    )]
    pub at: i64,
    pub user: String,
    pub token_id: Option<String>,
    pub workspace: Option<String>,
    /// What was done, e.g. `environment.register`, `run.update`, `token.revoke`.
    pub action: String,
    /// What it was done to, e.g. `environments/train/versions/3`.
    pub resource: String,
    pub request_id: Option<String>,
    /// For a refused request (`auth.*`): the address it came from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// For a refused request: how many more like it were counted but not written.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeats: u64,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if signature"
)]
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Why a request was refused, as its audit row says (`auth.<reason>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// No `Authorization` header (action `auth.no_token`).
    NoToken,
    /// A header that is not `Bearer` and a well-formed token (`auth.malformed_token`).
    MalformedToken,
    /// A well-formed token the store did not accept; the store looks its hash up and writes
    /// `auth.unknown_token`, `auth.revoked_token` or `auth.expired_token`, with the token's
    /// id and user when it has them. Never the token.
    Token { token_hash: String },
    /// A valid token of someone who is not a member of the workspace (`auth.not_member`).
    NotMember { principal: Principal },
    /// A member whose role does not allow the request (`auth.forbidden`).
    Forbidden { principal: Principal },
    /// Refusals counted but not written one by one (`auth.suppressed`, with their number in
    /// `repeats`).
    Suppressed,
}

/// A refused request, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: RefusalReason,
    /// The workspace the request named, if any.
    pub workspace: Option<String>,
    /// What was asked for: `METHOD /path`, without the query string.
    pub resource: String,
    pub request_id: Option<String>,
    /// The address the request came from.
    pub client: Option<String>,
    /// How many refusals like it were counted but not written.
    pub repeats: u64,
}

/// Which audit events to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub workspace: Option<String>,
    /// Only this user's events (what a non-owner may read).
    pub user: Option<String>,
}

impl Principal {
    /// Who changes are audited as, for a request (`request_id`) made with this token.
    pub fn actor(&self, request_id: Option<&str>) -> Actor {
        Actor {
            user: self.user.clone(),
            token_id: Some(self.token_id.clone()),
            request_id: request_id.map(str::to_string),
        }
    }
}

/// What a request on one workspace needs to know before anything else, in one lookup.
pub struct Authorized {
    pub principal: Principal,
    /// Their role as a member of the workspace (`None`: not a member). What the token itself
    /// allows (an admin, a workspace-bound token, a role cap) is the caller's to apply.
    pub membership: Option<Role>,
    /// The workspace's records, changes audited as the principal's; `None` when there is no
    /// such workspace.
    pub records: Option<Arc<dyn WorkspaceStore>>,
}

/// Server-wide records. Implemented by the PostgreSQL store; the server is written against
/// this trait alone.
#[async_trait]
pub trait ServerStore: Send + Sync {
    /// The schema version the store is at, and the newest this build knows.
    async fn schema_status(&self) -> Result<(u32, u32), StoreError>;

    /// Looks a token up by its hash: `None` for unknown, revoked or expired tokens. Records
    /// the use.
    async fn authenticate(&self, token_hash: &str) -> Result<Option<Principal>, StoreError>;

    /// [`Self::authenticate`], [`Self::role_of`] and [`Self::workspace`] for one request on
    /// `workspace`; a store may answer them in one round trip. `None` for an unknown, revoked
    /// or expired token.
    async fn authorize(
        &self,
        token_hash: &str,
        workspace: &str,
        request_id: Option<&str>,
    ) -> Result<Option<Authorized>, StoreError> {
        authorize_in_steps(self, token_hash, workspace, request_id).await
    }

    /// The user's role in a workspace (`None`: not a member; the workspace may not exist).
    async fn role_of(&self, user: &str, workspace: &str) -> Result<Option<Role>, StoreError>;

    async fn create_workspace(
        &self,
        name: &str,
        actor: &Actor,
    ) -> Result<WorkspaceInfo, StoreError>;

    /// Workspaces sorted by name; only those `user` is a member of, unless `None` (an admin).
    async fn list_workspaces(&self, user: Option<&str>) -> Result<Vec<WorkspaceInfo>, StoreError>;

    /// Makes `token` (generated by the caller) valid; stores only its hash.
    async fn create_token(
        &self,
        token_hash: &str,
        new: &NewToken,
        actor: &Actor,
    ) -> Result<TokenRecord, StoreError>;

    /// Tokens, optionally only those of one workspace.
    async fn list_tokens(&self, workspace: Option<&str>) -> Result<Vec<TokenRecord>, StoreError>;

    async fn revoke_token(&self, id: &str, actor: &Actor) -> Result<TokenRecord, StoreError>;

    async fn set_member(
        &self,
        workspace: &str,
        user: &str,
        role: Option<Role>,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    async fn list_members(&self, workspace: &str) -> Result<Vec<Member>, StoreError>;

    async fn audit(
        &self,
        query: &AuditQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<AuditEvent>, StoreError>;

    /// The records of one workspace, with changes audited as `actor`'s.
    async fn workspace(
        &self,
        name: &str,
        actor: Actor,
    ) -> Result<Arc<dyn WorkspaceStore>, StoreError>;

    /// The read side of one workspace, for its pages.
    async fn browse(&self, name: &str) -> Result<Arc<dyn BrowseStore>, StoreError>;

    /// Starts a browser session in `workspace` for the holder of a valid token: stores only
    /// `session_hash`, and the session ends at `expires_at` or with the token, whichever
    /// comes first. `None` when the token is unknown, revoked or expired. Audited.
    async fn start_session(
        &self,
        session_hash: &str,
        token_hash: &str,
        workspace: &str,
        expires_at: i64,
        request_id: Option<&str>,
    ) -> Result<Option<Principal>, StoreError>;

    /// Who a session in `workspace` belongs to, while it and its token are valid.
    async fn session(
        &self,
        session_hash: &str,
        workspace: &str,
    ) -> Result<Option<Principal>, StoreError>;

    /// Ends a session (signing out); ending one that is gone is not an error. Audited.
    async fn end_session(
        &self,
        session_hash: &str,
        request_id: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Records which workspace references a blob, so only its readers may download it.
    async fn grant_blob(&self, workspace: &str, digest: &str) -> Result<(), StoreError>;

    /// Whether a workspace may read a blob.
    async fn blob_granted(&self, workspace: &str, digest: &str) -> Result<bool, StoreError>;

    /// Writes the audit row of a refused request, on its own (there is no change to write it
    /// with). Whoever calls this decides how often: the server limits it (see `docs/server.md`).
    async fn record_refusal(&self, refusal: &Refusal) -> Result<(), StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// [`ServerStore::authorize`] as its three lookups, for stores that have no single one.
pub async fn authorize_in_steps<S: ServerStore + ?Sized>(
    store: &S,
    token_hash: &str,
    workspace: &str,
    request_id: Option<&str>,
) -> Result<Option<Authorized>, StoreError> {
    let Some(principal) = store.authenticate(token_hash).await? else {
        return Ok(None);
    };
    let membership = store.role_of(&principal.user, workspace).await?;
    let records = match store
        .workspace(workspace, principal.actor(request_id))
        .await
    {
        Ok(records) => Some(records),
        Err(StoreError::NotFound { .. }) => None,
        Err(error) => return Err(error),
    };
    Ok(Some(Authorized {
        principal,
        membership,
        records,
    }))
}

/// A server's storage: its records and its blobs.
#[derive(Clone)]
pub struct ServerBackends {
    pub records: Arc<dyn ServerStore>,
    pub blobs: Arc<dyn BlobStorage>,
}
