//! The request log: one line per request with its id, method, path, status and user, and never
//! a token, whether sent in the header or (wrongly) in the query string.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{TestServer, unique};
use strata_store::store::Role;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_logs_name_the_request_and_never_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("strata_server=info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let Some(server) = TestServer::start().await else {
        return;
    };
    let workspace = server.workspace("logs").await;
    let user = unique("logged");
    let token = server.token(&user, &workspace, Role::Reader).await;
    let http = reqwest::Client::new();
    let response = http
        .get(format!(
            "{}?token={token}&secret=hunter2",
            server.api(&format!("/workspaces/{workspace}/environments"))
        ))
        .bearer_auth(&token)
        .header("x-request-id", "log-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let response = http
        .get(server.api("/me"))
        .bearer_auth("strata_pat_this-is-not-even-well-formed")
        .header("x-request-id", "log-test-2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    server.stop().await;

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    let line = log
        .lines()
        .find(|l| l.contains("log-test-1"))
        .unwrap_or_else(|| panic!("no line for the request in:\n{log}"));
    for part in [
        "method=GET",
        &format!("path=/api/v1/workspaces/{workspace}/environments"),
        "status=200",
        "latency_ms=",
        &format!("user={user}"),
    ] {
        assert!(line.contains(part), "`{part}` missing from: {line}");
    }
    assert!(
        log.lines()
            .any(|l| l.contains("log-test-2") && l.contains("status=401"))
    );
    for secret in [
        token.as_str(),
        "hunter2",
        "this-is-not-even-well-formed",
        "Bearer",
    ] {
        assert!(!log.contains(secret), "`{secret}` is in the log:\n{log}");
    }
}
