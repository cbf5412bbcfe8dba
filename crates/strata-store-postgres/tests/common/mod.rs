//! What the PostgreSQL tests share: the server to use and a database of each test's own.

#![allow(dead_code, reason = "each test file uses a part")]

use strata_store::store::{Actor, ServerStore};
use strata_store_postgres::PostgresStore;

/// The PostgreSQL server to test against (`STRATA_TEST_PG_URI`); in CI its absence fails the
/// test instead of skipping it.
pub(crate) fn pg_uri() -> Option<String> {
    match std::env::var("STRATA_TEST_PG_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "CI=true but STRATA_TEST_PG_URI is not set: start PostgreSQL with `scripts/pg-test-server start DIR` and export its URL (CI never skips the PostgreSQL tests)"
        ),
        _ => None,
    }
}

/// The URL of a new, empty database on the server at `uri`, named after the test.
pub(crate) async fn fresh_database(uri: &str, test: &str) -> String {
    use sqlx::migrate::MigrateDatabase as _;
    let mut url = url::Url::parse(uri).expect("STRATA_TEST_PG_URI is a URL");
    let name = format!(
        "strata_{test}_{}_{}",
        std::process::id(),
        strata_store::now_millis()
    );
    url.set_path(&format!("/{name}"));
    let url = url.to_string();
    sqlx::Postgres::create_database(&url)
        .await
        .unwrap_or_else(|e| panic!("creating database `{name}`: {e}"));
    url
}

/// A migrated store on a fresh database, or `None` without a server (outside CI).
pub(crate) async fn migrated_store(test: &str) -> Option<PostgresStore> {
    let uri = pg_uri()?;
    let url = fresh_database(&uri, test).await;
    let store = PostgresStore::connect(&url).await.expect("connecting");
    store.migrate().await.expect("migrating");
    Some(store)
}

pub(crate) fn actor(user: &str) -> Actor {
    Actor {
        user: user.to_string(),
        token_id: Some(format!("tok_of_{user}")),
        request_id: Some(format!("req-{user}")),
    }
}

/// The number of audit rows of a workspace.
pub(crate) async fn audit_count(store: &PostgresStore, workspace: &str) -> usize {
    let query = strata_store::store::AuditQuery {
        workspace: Some(workspace.to_string()),
        user: None,
    };
    strata_store::store::collect_all(|cursor| {
        let query = query.clone();
        async move { store.audit(&query, cursor.as_deref(), 100).await }
    })
    .await
    .expect("reading the audit log")
    .len()
}
