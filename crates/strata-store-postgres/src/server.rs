//! [`ServerStore`]: workspaces, users, members, tokens, blob grants and the audit log.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use strata_store::StoreError;
use strata_store::store::{
    Actor, AuditEvent, AuditQuery, Authorized, BrowseStore, Cursor, CursorPage, Member, NewToken,
    Principal, Refusal, RefusalReason, Role, ServerStore, TokenRecord, WorkspaceInfo,
    WorkspaceStore, authorize_in_steps, is_digest,
};

use crate::audit;
use crate::error::{db, is_unique_violation};
use crate::store::{PostgresStore, schema_too_new};
use crate::workspace::PgWorkspace;

/// A valid token by its hash (`$1`) at a time (`$2`), as `found`, with its use recorded to the
/// minute: writing the row on every request would make every request a write, and
/// concurrent requests with one token wait for each other on its row lock.
const TOKEN_LOOKUP: &str = "WITH found AS (
         SELECT t.id, t.user_name, t.admin, t.role,
           (SELECT name FROM workspaces w WHERE w.id = t.workspace_id) AS workspace
         FROM tokens t
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > $2)
     ), touched AS (
         UPDATE tokens SET last_used_at = $2
         WHERE token_hash = $1 AND (last_used_at IS NULL OR last_used_at < $2 - 60000)
           AND EXISTS (SELECT 1 FROM found)
     )";

const TOKEN_COLUMNS: &str =
    "t.id, t.user_name, w.name AS workspace, t.role, t.admin, t.description,
     t.created_at, t.expires_at, t.last_used_at, t.revoked_at";

pub(crate) fn role_of_text(text: Option<String>) -> Option<Role> {
    text.as_deref().and_then(Role::parse)
}

fn row_to_token(row: &PgRow) -> Result<TokenRecord, sqlx::Error> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        user: row.try_get("user_name")?,
        workspace: row.try_get("workspace")?,
        role: role_of_text(row.try_get("role")?),
        admin: row.try_get("admin")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn workspace_not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        what: format!("Workspace `{name}`"),
    }
}

impl PostgresStore {
    /// The id of a workspace, or `NotFound`.
    pub(crate) async fn workspace_id<'e, E>(executor: E, name: &str) -> Result<i64, StoreError>
    where
        E: sqlx::PgExecutor<'e>,
    {
        sqlx::query("SELECT id FROM workspaces WHERE name = $1")
            .bind(name)
            .fetch_optional(executor)
            .await
            .map_err(db("looking up a workspace"))?
            .map(|row| row.try_get::<i64, _>(0))
            .transpose()
            .map_err(db("looking up a workspace"))?
            .ok_or_else(|| workspace_not_found(name))
    }
}

async fn ensure_user(connection: &mut sqlx::PgConnection, user: &str) -> Result<(), StoreError> {
    strata_store::validate_label(user).map_err(|_| StoreError::InvalidReference {
        reference: user.to_string(),
        reason: "user names use letters, digits, `-`, `_` and `.`, starting with a letter or digit"
            .to_string(),
    })?;
    sqlx::query("INSERT INTO users (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(user)
        .bind(strata_store::now_millis())
        .execute(connection)
        .await
        .map_err(db("creating a user"))?;
    Ok(())
}

#[async_trait]
impl ServerStore for PostgresStore {
    async fn schema_status(&self) -> Result<(u32, u32), StoreError> {
        Ok((self.current_schema().await?, Self::supported_schema()))
    }

    async fn authenticate(&self, token_hash: &str) -> Result<Option<Principal>, StoreError> {
        let now = strata_store::now_millis();
        let sql = format!("{TOKEN_LOOKUP} SELECT id, user_name, admin, role, workspace FROM found");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("authenticating"))?;
        row.map(|row| {
            Ok(Principal {
                user: row.try_get("user_name")?,
                token_id: row.try_get("id")?,
                admin: row.try_get("admin")?,
                workspace: row.try_get("workspace")?,
                max_role: role_of_text(row.try_get("role")?),
            })
        })
        .transpose()
        .map_err(db("authenticating"))
    }

    async fn authorize(
        &self,
        token_hash: &str,
        workspace: &str,
        request_id: Option<&str>,
    ) -> Result<Option<Authorized>, StoreError> {
        let now = strata_store::now_millis();
        // The token (its use recorded to the minute, as in `authenticate`), the membership,
        // the workspace and the schema version in one statement: one round trip before a
        // request's own.
        let sql = format!(
            "{TOKEN_LOOKUP}
             SELECT f.id, f.user_name, f.admin, f.role, f.workspace, w.id AS workspace_id,
                    (SELECT m.role FROM workspace_members m
                     WHERE m.workspace_id = w.id AND m.user_name = f.user_name) AS membership,
                    (SELECT MAX(version) FROM _sqlx_migrations WHERE success) AS schema
             FROM found f LEFT JOIN workspaces w ON w.name = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .bind(now)
            .bind(workspace)
            .fetch_optional(&self.pool)
            .await;
        let row = match row {
            Ok(row) => row,
            Err(error) if crate::error::is_unavailable(&error) => {
                return Err(db("authorizing")(error));
            }
            // No migrations table (a database emptied under the server): the checks one by
            // one say what is wrong.
            Err(_) => {
                return authorize_in_steps(self, token_hash, workspace, request_id).await;
            }
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let read =
            || -> Result<(Principal, Option<i64>, Option<Role>, Option<i64>), sqlx::Error> {
                Ok((
                    Principal {
                        user: row.try_get("user_name")?,
                        token_id: row.try_get("id")?,
                        admin: row.try_get("admin")?,
                        workspace: row.try_get("workspace")?,
                        max_role: role_of_text(row.try_get("role")?),
                    },
                    row.try_get("workspace_id")?,
                    role_of_text(row.try_get("membership")?),
                    row.try_get("schema")?,
                ))
            };
        let (principal, workspace_id, membership, schema) = read().map_err(db("authorizing"))?;
        let current = u32::try_from(schema.unwrap_or(0)).unwrap_or(u32::MAX);
        let supported = Self::supported_schema();
        if current > supported {
            return Err(schema_too_new(&self.location, current, supported));
        }
        let records = workspace_id.map(|id| {
            let actor = Actor {
                user: principal.user.clone(),
                token_id: Some(principal.token_id.clone()),
                request_id: request_id.map(str::to_string),
            };
            Arc::new(PgWorkspace::new(self.clone(), id, workspace, actor))
                as Arc<dyn WorkspaceStore>
        });
        Ok(Some(Authorized {
            principal,
            membership,
            records,
        }))
    }

    async fn role_of(&self, user: &str, workspace: &str) -> Result<Option<Role>, StoreError> {
        let role: Option<String> = sqlx::query(
            "SELECT m.role FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
             WHERE w.name = $1 AND m.user_name = $2",
        )
        .bind(workspace)
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .and_then(|row| row.map(|r| r.try_get(0)).transpose())
        .map_err(db("reading a role"))?;
        Ok(role_of_text(role))
    }

    async fn create_workspace(
        &self,
        name: &str,
        actor: &Actor,
    ) -> Result<WorkspaceInfo, StoreError> {
        strata_store::validate_label(name).map_err(|_| StoreError::InvalidReference {
            reference: name.to_string(),
            reason: "workspace names use letters, digits, `-`, `_` and `.`, starting with a letter or digit".to_string(),
        })?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("creating a workspace"))?;
        let created_at = strata_store::now_millis();
        let inserted =
            sqlx::query("INSERT INTO workspaces (name, created_at) VALUES ($1, $2) RETURNING id")
                .bind(name)
                .bind(created_at)
                .fetch_one(&mut *tx)
                .await;
        let id: i64 = match inserted {
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::WorkspaceExists { path: name.into() });
            }
            other => other
                .and_then(|row| row.try_get(0))
                .map_err(db("creating a workspace"))?,
        };
        crate::environments::seed_curated(&mut tx, id).await?;
        audit::record(
            &mut tx,
            actor,
            Some(name),
            "workspace.create",
            &format!("workspaces/{name}"),
        )
        .await?;
        tx.commit().await.map_err(db("creating a workspace"))?;
        Ok(WorkspaceInfo {
            name: name.to_string(),
            role: None,
            created_at,
        })
    }

    async fn list_workspaces(&self, user: Option<&str>) -> Result<Vec<WorkspaceInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.name, w.created_at, m.role FROM workspaces w
             LEFT JOIN workspace_members m ON m.workspace_id = w.id AND m.user_name = $1
             WHERE $1::text IS NULL OR m.user_name IS NOT NULL
             ORDER BY w.name",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing workspaces"))?;
        rows.iter()
            .map(|row| {
                Ok(WorkspaceInfo {
                    name: row.try_get("name")?,
                    role: role_of_text(row.try_get("role")?),
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db("listing workspaces"))
    }

    async fn create_token(
        &self,
        token_hash: &str,
        new: &NewToken,
        actor: &Actor,
    ) -> Result<TokenRecord, StoreError> {
        if !is_digest(token_hash) {
            return Err(StoreError::InvalidReference {
                reference: "<token hash>".to_string(),
                reason: "a token is stored as the SHA-256 of its text, 64 lowercase hex digits"
                    .to_string(),
            });
        }
        let mut tx = self.pool.begin().await.map_err(db("creating a token"))?;
        ensure_user(&mut tx, &new.user).await?;
        let workspace_id = match &new.workspace {
            Some(name) => Some(Self::workspace_id(&mut *tx, name).await?),
            None => None,
        };
        if let (Some(workspace_id), Some(role)) = (workspace_id, new.role) {
            sqlx::query(
                "INSERT INTO workspace_members (workspace_id, user_name, role) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(workspace_id)
            .bind(&new.user)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db("adding a member"))?;
        }
        let inserted = sqlx::query(
            "INSERT INTO tokens (seq, id, token_hash, user_name, workspace_id, role, admin, description, created_at, expires_at)
             SELECT s, 'tok_' || s, $1, $2, $3, $4, $5, $6, $7, $8
             FROM nextval(pg_get_serial_sequence('tokens', 'seq')) AS s
             RETURNING id",
        )
        .bind(token_hash)
        .bind(&new.user)
        .bind(workspace_id)
        .bind(new.role.map(Role::as_str))
        .bind(new.admin)
        .bind(&new.description)
        .bind(strata_store::now_millis())
        .bind(new.expires_at)
        .fetch_one(&mut *tx)
        .await;
        let id: String = match inserted {
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::InvalidReference {
                    reference: "<token hash>".to_string(),
                    reason: "this token is already registered; generate a new one".to_string(),
                });
            }
            other => other
                .and_then(|row| row.try_get(0))
                .map_err(db("creating a token"))?,
        };
        audit::record(
            &mut tx,
            actor,
            new.workspace.as_deref(),
            "token.create",
            &format!("tokens/{id}"),
        )
        .await?;
        let record = token_by_id(&mut tx, &id).await?;
        tx.commit().await.map_err(db("creating a token"))?;
        Ok(record)
    }

    async fn list_tokens(&self, workspace: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens t LEFT JOIN workspaces w ON w.id = t.workspace_id
             WHERE $1::text IS NULL OR w.name = $1 ORDER BY t.seq"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace)
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing tokens"))?;
        rows.iter()
            .map(row_to_token)
            .collect::<Result<_, _>>()
            .map_err(db("listing tokens"))
    }

    async fn revoke_token(&self, id: &str, actor: &Actor) -> Result<TokenRecord, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("revoking a token"))?;
        let workspace: Option<Option<String>> = sqlx::query(
            "UPDATE tokens t SET revoked_at = COALESCE(t.revoked_at, $2)
             WHERE t.id = $1
             RETURNING (SELECT name FROM workspaces w WHERE w.id = t.workspace_id)",
        )
        .bind(id)
        .bind(strata_store::now_millis())
        .fetch_optional(&mut *tx)
        .await
        .and_then(|row| row.map(|r| r.try_get(0)).transpose())
        .map_err(db("revoking a token"))?;
        let Some(workspace) = workspace else {
            return Err(StoreError::NotFound {
                what: format!("Token `{id}`"),
            });
        };
        audit::record(
            &mut tx,
            actor,
            workspace.as_deref(),
            "token.revoke",
            &format!("tokens/{id}"),
        )
        .await?;
        let record = token_by_id(&mut tx, id).await?;
        tx.commit().await.map_err(db("revoking a token"))?;
        Ok(record)
    }

    async fn set_member(
        &self,
        workspace: &str,
        user: &str,
        role: Option<Role>,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("changing a member"))?;
        let workspace_id = Self::workspace_id(&mut *tx, workspace).await?;
        match role {
            Some(role) => {
                ensure_user(&mut tx, user).await?;
                sqlx::query(
                    "INSERT INTO workspace_members (workspace_id, user_name, role) VALUES ($1, $2, $3)
                     ON CONFLICT (workspace_id, user_name) DO UPDATE SET role = excluded.role",
                )
                .bind(workspace_id)
                .bind(user)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db("changing a member"))?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM workspace_members WHERE workspace_id = $1 AND user_name = $2",
                )
                .bind(workspace_id)
                .bind(user)
                .execute(&mut *tx)
                .await
                .map_err(db("removing a member"))?;
            }
        }
        let action = if role.is_some() {
            "member.set"
        } else {
            "member.remove"
        };
        audit::record(
            &mut tx,
            actor,
            Some(workspace),
            action,
            &format!("workspaces/{workspace}/members/{user}"),
        )
        .await?;
        tx.commit().await.map_err(db("changing a member"))
    }

    async fn list_members(&self, workspace: &str) -> Result<Vec<Member>, StoreError> {
        let workspace_id = Self::workspace_id(&self.pool, workspace).await?;
        let rows = sqlx::query(
            "SELECT user_name, role FROM workspace_members WHERE workspace_id = $1 ORDER BY user_name",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing members"))?;
        let mut members = Vec::with_capacity(rows.len());
        for row in rows {
            let role: String = row.try_get("role").map_err(db("listing members"))?;
            members.push(Member {
                user: row.try_get("user_name").map_err(db("listing members"))?,
                // The CHECK constraint allows only the three roles.
                role: Role::parse(&role).unwrap_or(Role::Reader),
            });
        }
        Ok(members)
    }

    async fn audit(
        &self,
        query: &AuditQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<AuditEvent>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = cursor.map(Cursor::decode).transpose()?;
        let rows = sqlx::query(
            "SELECT id, at, user_name, token_id, workspace, action, resource, request_id, client,
                    repeats
             FROM audit_events
             WHERE ($1::text IS NULL OR workspace = $1) AND ($2::text IS NULL OR user_name = $2)
               AND ($3::bigint IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(&query.workspace)
        .bind(&query.user)
        .bind(after.map(|c| c.id))
        .bind(crate::workspace::fetch(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the audit log"))?;
        let rows = rows
            .iter()
            .map(|row| {
                let event = AuditEvent {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    user: row.try_get("user_name")?,
                    token_id: row.try_get("token_id")?,
                    workspace: row.try_get("workspace")?,
                    action: row.try_get("action")?,
                    resource: row.try_get("resource")?,
                    request_id: row.try_get("request_id")?,
                    client: row.try_get("client")?,
                    repeats: u64::try_from(row.try_get::<i64, _>("repeats")?).unwrap_or(0),
                };
                let cursor = Cursor::new("", event.id);
                Ok((event, cursor))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db("reading the audit log"))?;
        Ok(Cursor::page(rows, limit))
    }

    async fn workspace(
        &self,
        name: &str,
        actor: Actor,
    ) -> Result<Arc<dyn WorkspaceStore>, StoreError> {
        Ok(Arc::new(self.open_workspace(name, actor).await?))
    }

    async fn browse(&self, name: &str) -> Result<Arc<dyn BrowseStore>, StoreError> {
        // Pages only read, so nothing is ever audited as this actor.
        let reader = Actor {
            user: String::new(),
            token_id: None,
            request_id: None,
        };
        Ok(Arc::new(self.open_workspace(name, reader).await?))
    }

    async fn start_session(
        &self,
        session_hash: &str,
        token_hash: &str,
        workspace: &str,
        expires_at: i64,
        request_id: Option<&str>,
    ) -> Result<Option<Principal>, StoreError> {
        crate::sessions::start(
            self,
            session_hash,
            token_hash,
            workspace,
            expires_at,
            request_id,
        )
        .await
    }

    async fn session(
        &self,
        session_hash: &str,
        workspace: &str,
    ) -> Result<Option<Principal>, StoreError> {
        crate::sessions::find(self, session_hash, workspace).await
    }

    async fn end_session(
        &self,
        session_hash: &str,
        request_id: Option<&str>,
    ) -> Result<(), StoreError> {
        crate::sessions::end(self, session_hash, request_id).await
    }

    async fn grant_blob(&self, workspace: &str, digest: &str) -> Result<(), StoreError> {
        strata_store::store::check_digest(digest)?;
        let workspace_id = Self::workspace_id(&self.pool, workspace).await?;
        sqlx::query(
            "INSERT INTO blob_grants (workspace_id, digest, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(workspace_id)
        .bind(digest)
        .bind(strata_store::now_millis())
        .execute(&self.pool)
        .await
        .map_err(db("granting a blob"))?;
        Ok(())
    }

    async fn blob_granted(&self, workspace: &str, digest: &str) -> Result<bool, StoreError> {
        sqlx::query(
            "SELECT 1 FROM blob_grants g JOIN workspaces w ON w.id = g.workspace_id
             WHERE w.name = $1 AND g.digest = $2",
        )
        .bind(workspace)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map(|row| row.is_some())
        .map_err(db("checking a blob grant"))
    }

    async fn record_refusal(&self, refusal: &Refusal) -> Result<(), StoreError> {
        let now = strata_store::now_millis();
        let repeats = i64::try_from(refusal.repeats).unwrap_or(i64::MAX);
        let query = match &refusal.reason {
            // Which token it was (and why it is refused) only the database knows: looked up
            // by hash in the same statement, so the row names its id and user when known.
            RefusalReason::Token { token_hash } => sqlx::query(
                "INSERT INTO audit_events (at, user_name, token_id, workspace, action, resource, request_id, client, repeats)
                 SELECT $1, COALESCE(t.user_name, ''), t.id, $3,
                        CASE WHEN t.id IS NULL THEN 'auth.unknown_token'
                             WHEN t.revoked_at IS NOT NULL THEN 'auth.revoked_token'
                             WHEN t.expires_at IS NOT NULL AND t.expires_at <= $1 THEN 'auth.expired_token'
                             ELSE 'auth.refused_token' END,
                        $4, $5, $6, $7
                 FROM (SELECT 1) AS one LEFT JOIN tokens t ON t.token_hash = $2",
            )
            .bind(now)
            .bind(token_hash),
            reason => {
                let (action, principal) = match reason {
                    RefusalReason::NoToken => ("auth.no_token", None),
                    RefusalReason::MalformedToken => ("auth.malformed_token", None),
                    RefusalReason::NotMember { principal } => ("auth.not_member", Some(principal)),
                    RefusalReason::Forbidden { principal } => ("auth.forbidden", Some(principal)),
                    RefusalReason::Suppressed | RefusalReason::Token { .. } => {
                        ("auth.suppressed", None)
                    }
                };
                sqlx::query(
                    "INSERT INTO audit_events (at, user_name, token_id, action, workspace, resource, request_id, client, repeats)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(now)
                .bind(principal.map_or("", |p| p.user.as_str()))
                .bind(principal.map(|p| p.token_id.as_str()))
                .bind(action)
            }
        };
        query
            .bind(&refusal.workspace)
            .bind(&refusal.resource)
            .bind(&refusal.request_id)
            .bind(&refusal.client)
            .bind(repeats)
            .execute(&self.pool)
            .await
            .map_err(db("auditing a refused request"))?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db("pinging"))?;
        Ok(())
    }
}

impl PostgresStore {
    /// One workspace's records, after checking the schema.
    async fn open_workspace(&self, name: &str, actor: Actor) -> Result<PgWorkspace, StoreError> {
        // Every request opens its workspace: the schema check and the lookup are one round
        // trip (a migrated database has the migrations table; otherwise the full check).
        let row = sqlx::query(
            "SELECT (SELECT MAX(version) FROM _sqlx_migrations WHERE success) AS schema,
                    (SELECT id FROM workspaces WHERE name = $1) AS id",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await;
        let (current, id) = match row {
            Ok(row) => {
                let schema: Option<i64> =
                    row.try_get("schema").map_err(db("opening a workspace"))?;
                let id: Option<i64> = row.try_get("id").map_err(db("opening a workspace"))?;
                (u32::try_from(schema.unwrap_or(0)).unwrap_or(u32::MAX), id)
            }
            Err(error) if crate::error::is_unavailable(&error) => {
                return Err(db("opening a workspace")(error));
            }
            Err(_) => (self.current_schema().await?, None),
        };
        let supported = Self::supported_schema();
        if current > supported {
            return Err(schema_too_new(&self.location, current, supported));
        }
        let id = match id {
            Some(id) => id,
            None => Self::workspace_id(&self.pool, name).await?,
        };
        Ok(PgWorkspace::new(self.clone(), id, name, actor))
    }
}

async fn token_by_id(
    connection: &mut sqlx::PgConnection,
    id: &str,
) -> Result<TokenRecord, StoreError> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens t LEFT JOIN workspaces w ON w.id = t.workspace_id WHERE t.id = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(connection)
        .await
        .map_err(db("reading a token"))?;
    row_to_token(&row).map_err(db("reading a token"))
}
