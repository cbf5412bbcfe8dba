//! The audit log: one append-only row per change, written by the change's own transaction so
//! a change is never without its row, nor a row without its change.

use sqlx::PgConnection;
use strata_store::StoreError;
use strata_store::store::Actor;

use crate::error::db;

/// The audit row's insert, taking its seven values in [`bind`]'s order; a change made in one
/// statement puts it in a `WITH` clause (`INSERT ... SELECT $n, ... FROM changed`), so the row
/// is written exactly when the change is.
pub(crate) const INSERT: &str =
    "INSERT INTO audit_events (at, user_name, token_id, workspace, action, resource, request_id)";

/// Binds the audit row's values, in [`INSERT`]'s column order.
pub(crate) fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    actor: &'q Actor,
    workspace: Option<&'q str>,
    action: &'q str,
    resource: String,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(strata_store::now_millis())
        .bind(&actor.user)
        .bind(&actor.token_id)
        .bind(workspace)
        .bind(action)
        .bind(resource)
        .bind(&actor.request_id)
}

pub(crate) async fn record(
    connection: &mut PgConnection,
    actor: &Actor,
    workspace: Option<&str>,
    action: &str,
    resource: &str,
) -> Result<(), StoreError> {
    let sql = format!("{INSERT} VALUES ($1, $2, $3, $4, $5, $6, $7)");
    bind(
        sqlx::query(sqlx::AssertSqlSafe(sql)),
        actor,
        workspace,
        action,
        resource.to_string(),
    )
    .execute(connection)
    .await
    .map_err(db("writing the audit log"))?;
    Ok(())
}
