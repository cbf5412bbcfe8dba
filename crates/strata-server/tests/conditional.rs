//! Conditional changes (`If-Match`): a stale tag is refused with 412, and of several requests
//! holding one tag exactly one wins, also across two servers on one database.

mod common;

use std::sync::Arc;

use common::{Blobs, TestServer, run_record, setup, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};
use strata_store::store::{Role, WorkspaceStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_with_a_stale_if_match_fail_with_412() {
    let Some((server, workspace, token)) = setup("ifmatch").await else {
        return;
    };
    let remote = server.remote(&workspace, &token);
    let run = unique("run");
    remote.create_run(&run_record(&run, None)).await.unwrap();
    let http = reqwest::Client::new();
    let url = server.api(&format!("/workspaces/{workspace}/runs/{run}"));
    let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
    let read = response.headers()["etag"].to_str().unwrap().to_string();
    assert!(read.starts_with("W/\""), "{read}");
    // Someone else moves the run on.
    remote
        .update_run(&run, &strata_store::store::RunUpdate::Preparing)
        .await
        .unwrap();
    let response = http
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", &read)
        .json(&json!({"state": "running"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "precondition_failed");
    assert_eq!(
        remote.get_run(&run).await.unwrap().status,
        strata_store::PREPARING
    );
    // With the current tag it goes through, and answers the next one.
    let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
    let current = response.headers()["etag"].to_str().unwrap().to_string();
    let response = http
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", &current)
        .json(&json!({"state": "running"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(response.headers()["etag"].to_str().unwrap(), current);
    assert_eq!(
        remote.get_run(&run).await.unwrap().status,
        strata_store::RUNNING
    );

    // Eight clients holding the same tag: exactly one change goes through.
    let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
    let shared = response.headers()["etag"].to_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let request = http
            .patch(&url)
            .bearer_auth(&token)
            .header("if-match", &shared)
            .json(&json!({"state": "cancelRequested"}));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let lost = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((won, lost), (1, 7), "{statuses:?}");
    server.stop().await;
}

/// Two servers on one database, each with its own connections (as two processes are): of
/// writers holding the same `If-Match` tag, spread over both, exactly one wins each round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_let_one_if_match_win() {
    let Some(first) = TestServer::start().await else {
        return;
    };
    let url = std::env::var("STRATA_TEST_PG_URI").expect("the first server found it");
    let other_handle = strata_store_postgres::PostgresStore::connect(&url)
        .await
        .expect("a second connection pool");
    let second = TestServer::start_over(Arc::new(other_handle), Blobs::Given(first.blobs.clone()))
        .await
        .expect("a second server");
    let workspace = first.workspace("two-servers").await;
    let token = first
        .token(&unique("contributor"), &workspace, Role::Contributor)
        .await;
    let http = reqwest::Client::new();
    let name = unique("svc");
    let path = format!("/workspaces/{workspace}/services/{name}");
    let service = json!({
        "name": name, "state": "Running", "host": "127.0.0.1", "port": 8000,
        "envName": "env", "envVersion": "1", "lockHash": null, "models": [],
        "entryScript": "score.py", "sourceDir": null, "serviceDir": "/services/x",
        "config": {"workers": 1, "cpuCores": null, "memoryGb": null, "timeoutMs": 1000},
        "error": null, "createdAt": 0, "updatedAt": 0,
    });
    let response = http
        .put(first.api(&path))
        .bearer_auth(&token)
        .json(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.text().await
    );
    for round in 0..10u16 {
        let response = http
            .get(second.api(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let tag = response.headers()["etag"].to_str().unwrap().to_string();
        let current: Value = response.json().await.unwrap();
        let mut tasks = Vec::new();
        for racer in 0..8u16 {
            let server = if racer % 2 == 0 { &first } else { &second };
            let mut body = current.clone();
            body["port"] = json!(9000 + round * 8 + racer);
            let request = http
                .put(server.api(&path))
                .bearer_auth(&token)
                .header("if-match", &tag)
                .json(&body);
            tasks.push(tokio::spawn(async move {
                request.send().await.unwrap().status()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let lost = statuses
            .iter()
            .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
            .count();
        assert_eq!((won, lost), (1, 7), "round {round}: {statuses:?}");
    }

    // And a run, moved on from both servers with one tag.
    let remote = first.remote(&workspace, &token);
    let run = unique("run");
    remote.create_run(&run_record(&run, None)).await.unwrap();
    let run_path = format!("/workspaces/{workspace}/runs/{run}");
    let response = http
        .get(first.api(&run_path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let tag = response.headers()["etag"].to_str().unwrap().to_string();
    let requests = [&first, &second].map(|server| {
        http.patch(server.api(&run_path))
            .bearer_auth(&token)
            .header("if-match", &tag)
            .json(&json!({"state": "preparing"}))
            .send()
    });
    let [a, b] = requests;
    let (a, b) = tokio::join!(a, b);
    let mut statuses = [a.unwrap().status(), b.unwrap().status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
        "one run update wins the tag"
    );
    second.stop().await;
    first.stop().await;
}
