//! Schema migrations: idempotent, safe when servers start together, and refusing a newer schema.

mod common;

use strata_store::StoreError;
use strata_store::store::ServerStore;
use strata_store_postgres::PostgresStore;

#[tokio::test(flavor = "multi_thread")]
async fn migrating_twice_is_a_no_op() {
    let Some(uri) = common::pg_uri() else {
        return;
    };
    let url = common::fresh_database(&uri, "migrate_twice").await;
    let store = PostgresStore::connect(&url).await.expect("connecting");
    let latest = PostgresStore::supported_schema();
    assert!(latest >= 1);
    assert_eq!(store.schema_status().await.expect("status"), (0, latest));
    assert_eq!(
        store
            .pending()
            .await
            .expect("pending")
            .first()
            .map(String::as_str),
        Some("0001_initial"),
        "an empty database has every migration pending"
    );
    let first = store.migrate().await.expect("migrating");
    assert_eq!((first.from, first.to), (0, latest));
    assert_eq!(
        first.applied.first().map(String::as_str),
        Some("0001_initial")
    );
    let second = store.migrate().await.expect("migrating again");
    assert_eq!((second.from, second.to), (latest, latest));
    assert!(
        second.applied.is_empty(),
        "nothing to apply the second time: {second:?}"
    );
    assert!(store.pending().await.expect("pending").is_empty());
    assert_eq!(
        store.schema_status().await.expect("status"),
        (latest, latest)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_migrations_take_turns() {
    let Some(uri) = common::pg_uri() else {
        return;
    };
    let url = common::fresh_database(&uri, "migrate_concurrently").await;
    let stores: Vec<PostgresStore> = {
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(PostgresStore::connect(&url).await.expect("connecting"));
        }
        stores
    };
    let mut tasks = tokio::task::JoinSet::new();
    for store in stores {
        tasks.spawn(async move { store.migrate().await });
    }
    let mut applied = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let report = joined
            .expect("a migration task")
            .unwrap_or_else(|e| panic!("a concurrent migration failed: {e}"));
        applied.extend(report.applied);
    }
    assert_eq!(
        applied.iter().filter(|m| *m == "0001_initial").count(),
        1,
        "each migration is applied once, whoever runs it: {applied:?}"
    );
    let store = PostgresStore::connect(&url).await.expect("connecting");
    assert!(store.pending().await.expect("pending").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_schema_is_refused() {
    let Some(store) = common::migrated_store("newer_schema").await else {
        return;
    };
    let latest = PostgresStore::supported_schema();
    // What a newer build would have left behind.
    let newer = i64::from(latest) + 1;
    store_exec(
        &store,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES ({newer}, 'from the future', TRUE, '\\x00', 0)"
        ),
    )
    .await;
    assert_eq!(
        store.schema_status().await.expect("status"),
        (latest + 1, latest)
    );
    let error = store.migrate().await.expect_err("migrating a newer schema");
    assert!(matches!(error, StoreError::SchemaTooNew { .. }), "{error}");
    store
        .create_workspace("w", &common::actor("admin"))
        .await
        .expect("creating a workspace");
    let refused = store.workspace("w", common::actor("admin")).await.err();
    assert!(
        matches!(refused, Some(StoreError::SchemaTooNew { .. })),
        "a workspace of a newer schema is not opened: {refused:?}"
    );
}

/// Runs raw SQL on the store's database (a test's back door).
async fn store_exec(store: &PostgresStore, sql: &str) {
    use sqlx::Connection as _;
    let url = store_url(store);
    let mut connection = sqlx::PgConnection::connect(&url).await.expect("connecting");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut connection)
        .await
        .expect("running test SQL");
}

fn store_url(store: &PostgresStore) -> String {
    // Test databases have no password, so the redacted location is the URL itself.
    store.location().to_string()
}
