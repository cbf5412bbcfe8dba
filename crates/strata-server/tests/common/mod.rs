//! A real server on `127.0.0.1:0` over PostgreSQL (`STRATA_TEST_PG_URI`), with blobs in a
//! temporary directory or on S3 (`STRATA_TEST_S3_URL` and the `AWS_*` variables, as
//! `scripts/s3-test-server` writes them). Without the services a test is skipped with a note,
//! except under `CI=true`, where it fails.

#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::sync::Arc;

use serde_json::json;
use strata_server::{RefusalLimits, ServerOptions, open_blobs};
use strata_spec::Environment;
use strata_store::RunRecord;
use strata_store::store::{
    Actor, BlobStorage, NewToken, Role, ServerBackends, ServerStore, generate_token, token_hash,
};
use strata_store_postgres::PostgresStore;

/// Where the blobs of a test server go.
#[derive(Clone)]
pub enum Blobs {
    Directory,
    S3,
    Given(Arc<dyn BlobStorage>),
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The setting, or `None` (skip) outside CI; in CI a missing setting fails the test.
pub fn required(variable: &str, how: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if in_ci() => panic!("`{variable}` is not set under CI=true: {how}"),
        _ => {
            eprintln!("note: `{variable}` is not set; skipping ({how})");
            None
        }
    }
}

pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub records: Arc<PostgresStore>,
    pub blobs: Arc<dyn BlobStorage>,
    /// A server admin's token.
    pub admin: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), strata_server::ServerError>>>,
    _dir: tempfile::TempDir,
}

/// A unique name for this test's workspaces and users, so tests share one database.
pub fn unique(prefix: &str) -> String {
    let token = generate_token().expect("random bytes");
    format!(
        "{prefix}-{}",
        token[token.len() - 10..].to_ascii_lowercase()
    )
}

pub async fn postgres() -> Option<Arc<PostgresStore>> {
    let url = required(
        "STRATA_TEST_PG_URI",
        "start one with `scripts/pg-test-server start DIR` and export the URL it prints",
    )?;
    let store = PostgresStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL failed: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating the test PostgreSQL failed: {e}"));
    Some(Arc::new(store))
}

impl TestServer {
    /// A server with blobs in a directory, or `None` when PostgreSQL is not configured.
    pub async fn start() -> Option<Self> {
        Self::start_with(Blobs::Directory).await
    }

    pub async fn start_with(blobs: Blobs) -> Option<Self> {
        let records = postgres().await?;
        Self::start_over(records, blobs).await
    }

    /// A server over these records.
    pub async fn start_over(records: Arc<PostgresStore>, blobs: Blobs) -> Option<Self> {
        Self::start_configured(records, blobs, RefusalLimits::default()).await
    }

    /// A server auditing refused requests within `refusals`.
    pub async fn start_with_refusals(refusals: RefusalLimits) -> Option<Self> {
        let records = postgres().await?;
        Self::start_configured(records, Blobs::Directory, refusals).await
    }

    pub async fn start_configured(
        records: Arc<PostgresStore>,
        blobs: Blobs,
        refusals: RefusalLimits,
    ) -> Option<Self> {
        // The server's request log, shown for failing tests (`RUST_LOG` to choose).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "strata_server=info".into()),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let blobs: Arc<dyn BlobStorage> = match blobs {
            Blobs::Given(blobs) => blobs,
            Blobs::Directory => {
                let url = format!("file://{}", dir.path().join("blobs").display());
                open_blobs(&url).expect("a blob directory")
            }
            Blobs::S3 => {
                let url = required(
                    "STRATA_TEST_S3_URL",
                    "start one with `scripts/s3-test-server start DIR` and `source DIR/env`",
                )?;
                open_blobs(&url).unwrap_or_else(|e| panic!("opening `{url}` failed: {e}"))
            }
        };
        let admin = generate_token().expect("a token");
        records
            .create_token(
                &token_hash(&admin),
                &NewToken {
                    user: unique("admin"),
                    workspace: None,
                    role: None,
                    admin: true,
                    description: Some("test admin".to_string()),
                    expires_at: None,
                },
                &Actor::local(),
            )
            .await
            .expect("an admin token");
        let backends = ServerBackends {
            records: records.clone(),
            blobs: blobs.clone(),
        };
        let options = ServerOptions {
            max_body_bytes: 1 << 20,
            temp_dir: dir.path().to_path_buf(),
            refusals,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(strata_server::serve(listener, backends, options, async {
            let _ = rx.await;
        }));
        Some(Self {
            url,
            records,
            blobs,
            admin,
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
        })
    }

    /// A new, empty workspace.
    pub async fn workspace(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.records
            .create_workspace(&name, &Actor::local())
            .await
            .expect("a workspace");
        name
    }

    /// A token for `user`, limited to `workspace` with `role` (which makes them a member).
    pub async fn token(&self, user: &str, workspace: &str, role: Role) -> String {
        self.token_with(user, Some(workspace), Some(role), None)
            .await
            .0
    }

    /// A reader's token for `user` in `workspace` that is already revoked, and its id.
    pub async fn revoked_token(&self, user: &str, workspace: &str) -> (String, String) {
        let (token, id) = self
            .token_with(user, Some(workspace), Some(Role::Reader), None)
            .await;
        self.records
            .revoke_token(&id, &Actor::local())
            .await
            .expect("a revoked token");
        (token, id)
    }

    /// A token and its id.
    pub async fn token_with(
        &self,
        user: &str,
        workspace: Option<&str>,
        role: Option<Role>,
        expires_at: Option<i64>,
    ) -> (String, String) {
        let token = generate_token().expect("a token");
        let record = self
            .records
            .create_token(
                &token_hash(&token),
                &NewToken {
                    user: user.to_string(),
                    workspace: workspace.map(str::to_string),
                    role,
                    admin: false,
                    description: None,
                    expires_at,
                },
                &Actor::local(),
            )
            .await
            .expect("a token");
        (token, record.id)
    }

    pub fn workspace_url(&self, workspace: &str) -> String {
        format!("{}/w/{workspace}", self.url)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    pub fn remote(&self, workspace: &str, token: &str) -> strata_client::RemoteStore {
        strata_client::RemoteStore::new(&self.workspace_url(workspace), token)
            .expect("a workspace URL")
    }

    /// Stops the server, letting requests in flight finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("the server task")
                .expect("the server stopped cleanly");
        }
    }
}

/// A definition of `name` on a base image; different images are different specs.
pub fn environment(name: &str, image: &str) -> Environment {
    Environment::from_docker_image(name, image, None).0
}

pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A queued run of `api-env:1`, with `snapshot` when given.
pub fn run_record(id: &str, snapshot: Option<&str>) -> RunRecord {
    serde_json::from_value(json!({
        "id": id, "experiment": "api", "status": strata_store::QUEUED,
        "envName": "api-env", "envVersion": 1, "lockHash": null, "script": "train.py",
        "arguments": [], "sourceDir": "/src", "snapshot": snapshot, "runDir": "/tmp/api-run",
        "outputs": null, "logs": null, "exitCode": null, "error": null,
        "queuedAt": strata_store::now_millis(), "target": "local", "image": null,
    }))
    .unwrap()
}

/// A temporary file holding `bytes`.
pub fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    file
}

/// A server, a new workspace and a contributor's token for it.
pub async fn setup(prefix: &str) -> Option<(TestServer, String, String)> {
    let server = TestServer::start().await?;
    let workspace = server.workspace(prefix).await;
    let token = server
        .token(&unique("contributor"), &workspace, Role::Contributor)
        .await;
    Some((server, workspace, token))
}
