//! The conformance suite on every store: SQLite always, PostgreSQL when `STRATA_TEST_PG_URI`
//! names a server (and in CI, where a missing server is a failure, not a skip).

use std::sync::Arc;

use strata_store::store::{Actor, BlobStorage, LocalBlobs, ServerStore, SqliteStore};
use strata_store::{BlobStore, Workspace};
use strata_store_postgres::PostgresStore;
use strata_store_tests::{OwnBlobs, ServerGrants, browse_conformance, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let workspace = Workspace::init(dir.path()).expect("a new workspace");
    let store = SqliteStore::new(workspace);
    let blobs: Arc<dyn BlobStorage> = Arc::new(store.blobs());
    conformance(Arc::new(store), blobs, Arc::new(OwnBlobs)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_pages_conform() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let workspace = Workspace::init(dir.path()).expect("a new workspace");
    let store = Arc::new(SqliteStore::new(workspace));
    let blobs: Arc<dyn BlobStorage> = Arc::new(store.blobs());
    browse_conformance(store.clone(), store, blobs, Arc::new(OwnBlobs)).await;
}

/// The PostgreSQL server to test against; in CI its absence fails the test.
fn pg_uri() -> Option<String> {
    match std::env::var("STRATA_TEST_PG_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "CI=true but STRATA_TEST_PG_URI is not set: start PostgreSQL with `scripts/pg-test-server start DIR` and export its URL (CI never skips the PostgreSQL tests)"
        ),
        _ => None,
    }
}

/// A database of this test's own on the server at `uri`, so tests never see each other's rows.
async fn fresh_database(uri: &str, test: &str) -> String {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conforms() {
    let Some(uri) = pg_uri() else {
        return;
    };
    let url = fresh_database(&uri, "conformance").await;
    let store = PostgresStore::connect(&url).await.expect("connecting");
    store.migrate().await.expect("migrating");
    let admin = Actor {
        user: "admin".to_string(),
        token_id: None,
        request_id: None,
    };
    store
        .create_workspace("conformance", &admin)
        .await
        .expect("creating the workspace");
    let records = store
        .workspace("conformance", admin)
        .await
        .expect("opening the workspace");
    let blob_dir = tempfile::tempdir().expect("a blob directory");
    let blobs: Arc<dyn BlobStorage> = Arc::new(LocalBlobs::new(BlobStore::new(blob_dir.path())));
    let server: Arc<dyn ServerStore> = Arc::new(store.clone());
    let grants = ServerGrants {
        server,
        workspace: "conformance".to_string(),
    };
    conformance(records, blobs.clone(), Arc::new(grants.clone())).await;

    // The pages, on a workspace of their own.
    store
        .create_workspace("pages", &admin_actor())
        .await
        .expect("creating the pages workspace");
    let pages = store.browse("pages").await.expect("opening the pages");
    let records = store
        .workspace("pages", admin_actor())
        .await
        .expect("opening the pages workspace");
    let pages_grants = ServerGrants {
        server: grants.server.clone(),
        workspace: "pages".to_string(),
    };
    browse_conformance(records, pages, blobs, Arc::new(pages_grants)).await;
    store.close().await;
}

fn admin_actor() -> Actor {
    Actor {
        user: "admin".to_string(),
        token_id: None,
        request_id: None,
    }
}
