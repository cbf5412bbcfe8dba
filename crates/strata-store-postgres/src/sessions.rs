//! Browser sessions of the server's pages: a session stands for the token it was started
//! with, in one workspace, and never outlives it.

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use strata_store::StoreError;
use strata_store::store::Principal;

use crate::audit;
use crate::error::db;
use crate::server::role_of_text;
use crate::store::PostgresStore;

/// What [`Principal`] is made of, read from a token row `t` and its workspace.
const PRINCIPAL: &str = "t.id, t.user_name, t.admin, t.role,
    (SELECT name FROM workspaces w WHERE w.id = t.workspace_id) AS token_workspace";

fn principal(row: &PgRow) -> Result<Principal, sqlx::Error> {
    Ok(Principal {
        user: row.try_get("user_name")?,
        token_id: row.try_get("id")?,
        admin: row.try_get("admin")?,
        workspace: row.try_get("token_workspace")?,
        max_role: role_of_text(row.try_get("role")?),
    })
}

pub(crate) async fn start(
    store: &PostgresStore,
    session_hash: &str,
    token_hash: &str,
    workspace: &str,
    expires_at: i64,
    request_id: Option<&str>,
) -> Result<Option<Principal>, StoreError> {
    let now = strata_store::now_millis();
    let mut tx = store.pool.begin().await.map_err(db("starting a session"))?;
    let workspace_id = PostgresStore::workspace_id(&mut *tx, workspace).await?;
    // Sessions that ended are of no use to anyone; removing them here keeps the table small.
    sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("starting a session"))?;
    let sql = format!(
        "SELECT t.seq, t.expires_at AS token_expires_at, {PRINCIPAL} FROM tokens t
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)
         FOR SHARE OF t"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("starting a session"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let read = || -> Result<(i64, Option<i64>, Principal), sqlx::Error> {
        Ok((
            row.try_get("seq")?,
            row.try_get("token_expires_at")?,
            principal(&row)?,
        ))
    };
    let (token_seq, token_expires_at, principal) = read().map_err(db("starting a session"))?;
    sqlx::query(
        "INSERT INTO ui_sessions (session_hash, token_seq, workspace_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(session_hash)
    .bind(token_seq)
    .bind(workspace_id)
    .bind(now)
    .bind(token_expires_at.map_or(expires_at, |token| token.min(expires_at)))
    .execute(&mut *tx)
    .await
    .map_err(db("starting a session"))?;
    audit::record(
        &mut tx,
        &principal.actor(request_id),
        Some(workspace),
        "session.start",
        "sessions",
    )
    .await?;
    tx.commit().await.map_err(db("starting a session"))?;
    Ok(Some(principal))
}

pub(crate) async fn find(
    store: &PostgresStore,
    session_hash: &str,
    workspace: &str,
) -> Result<Option<Principal>, StoreError> {
    let sql = format!(
        "SELECT {PRINCIPAL} FROM ui_sessions s
         JOIN tokens t ON t.seq = s.token_seq
         JOIN workspaces w ON w.id = s.workspace_id
         WHERE s.session_hash = $1 AND w.name = $2 AND s.expires_at > $3
           AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $3)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(session_hash)
        .bind(workspace)
        .bind(strata_store::now_millis())
        .fetch_optional(&store.pool)
        .await
        .map_err(db("reading a session"))?
        .map(|row| principal(&row))
        .transpose()
        .map_err(db("reading a session"))
}

pub(crate) async fn end(
    store: &PostgresStore,
    session_hash: &str,
    request_id: Option<&str>,
) -> Result<(), StoreError> {
    let mut tx = store.pool.begin().await.map_err(db("ending a session"))?;
    let sql = format!(
        "DELETE FROM ui_sessions s USING tokens t, workspaces w
         WHERE s.session_hash = $1 AND t.seq = s.token_seq AND w.id = s.workspace_id
         RETURNING {PRINCIPAL}, w.name AS session_workspace"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(session_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("ending a session"))?;
    if let Some(row) = row {
        let found = principal(&row).map_err(db("ending a session"))?;
        let workspace: String = row
            .try_get("session_workspace")
            .map_err(db("ending a session"))?;
        audit::record(
            &mut tx,
            &found.actor(request_id),
            Some(&workspace),
            "session.end",
            "sessions",
        )
        .await?;
    }
    tx.commit().await.map_err(db("ending a session"))
}
