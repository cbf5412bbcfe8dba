//! The audit log: one append-only row per change, written by the change's own transaction so
//! a change is never without its row, nor a row without its change.

use sqlx::PgConnection;
use strata_store::StoreError;
use strata_store::store::Actor;

use crate::error::db;

pub(crate) async fn record(
    connection: &mut PgConnection,
    actor: &Actor,
    workspace: Option<&str>,
    action: &str,
    resource: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (at, user_name, token_id, workspace, action, resource, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(strata_store::now_millis())
    .bind(&actor.user)
    .bind(&actor.token_id)
    .bind(workspace)
    .bind(action)
    .bind(resource)
    .bind(&actor.request_id)
    .execute(connection)
    .await
    .map_err(db("writing the audit log"))?;
    Ok(())
}
