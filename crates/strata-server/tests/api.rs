//! The API's own rules, through `RemoteStore` and raw HTTP: concurrent registrations, blob
//! uploads and downloads, conditional requests, pagination, errors, request ids, health.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{Blobs, TestServer, digest_of, environment, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};
use strata_store::store::{BlobStorage, Role, WorkspaceStore};
use strata_store::{RegisterOptions, RunRecord, StoreError};

fn run_record(id: &str, snapshot: Option<&str>) -> RunRecord {
    serde_json::from_value(json!({
        "id": id, "experiment": "api", "status": strata_store::QUEUED,
        "envName": "api-env", "envVersion": 1, "lockHash": null, "script": "train.py",
        "arguments": [], "sourceDir": "/src", "snapshot": snapshot, "runDir": "/tmp/api-run",
        "outputs": null, "logs": null, "exitCode": null, "error": null,
        "queuedAt": strata_store::now_millis(), "target": "local", "image": null,
    }))
    .unwrap()
}

fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    file
}

async fn setup(prefix: &str) -> Option<(TestServer, String, String)> {
    let server = TestServer::start().await?;
    let workspace = server.workspace(prefix).await;
    let token = server
        .token(&unique("contributor"), &workspace, Role::Contributor)
        .await;
    Some((server, workspace, token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_clients_get_versions_one_to_sixteen() {
    let Some((server, workspace, token)) = setup("concurrent").await else {
        return;
    };
    let mut tasks = Vec::new();
    for n in 0..16 {
        let remote = server.remote(&workspace, &token);
        tasks.push(tokio::spawn(async move {
            remote
                .register_environment(
                    environment("shared", &format!("python:3.{n}")),
                    RegisterOptions::default(),
                )
                .await
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        let registration = task.await.unwrap().expect("a registration");
        assert!(registration.created);
        versions.push(registration.record.version.as_number().unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=16).collect::<Vec<u64>>());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_answers_201_new_200_identical_409_different() {
    let Some((server, workspace, token)) = setup("register").await else {
        return;
    };
    let remote = server.remote(&workspace, &token);
    let first = remote
        .register_environment(
            environment("train", "python:3.12"),
            RegisterOptions::default(),
        )
        .await
        .unwrap();
    assert!(first.created);
    let again = remote
        .register_environment(
            environment("train", "python:3.12"),
            RegisterOptions::default(),
        )
        .await
        .unwrap();
    assert!(
        !again.created,
        "an identical definition is the existing version"
    );
    assert_eq!(again.record.version, first.record.version);
    let mut explicit = environment("train", "python:3.13");
    explicit.version = Some("1".to_string());
    let error = remote
        .register_environment(explicit, RegisterOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::VersionConflict { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("`train:1`"),
        "the local message: {error}"
    );

    // The same over HTTP: status codes, and an immutable version with its spec hash as ETag.
    let http = reqwest::Client::new();
    let url = server.api(&format!(
        "/workspaces/{workspace}/environments/train/versions/7"
    ));
    let body = json!(strata_store::DefinitionDocument::of(&environment(
        "train",
        "python:3.11"
    )));
    for expected in [StatusCode::CREATED, StatusCode::OK] {
        let response = http
            .put(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
    let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let document: Value = response.json().await.unwrap();
    assert_eq!(
        etag,
        format!("\"{}\"", document["specHash"].as_str().unwrap())
    );
    let response = http
        .get(&url)
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    // First lock wins: 201, then 200 with the first one.
    let lock = |n: usize| {
        json!({"version": strata_spec::LOCK_FORMAT_VERSION, "platform": "linux-64", "python": null,
               "conda": [], "pypi": [], "pipOptions": [format!("--index-url=https://i.invalid/{n}")],
               "userManaged": null, "baseImage": null})
    };
    let locks = format!("{url}/locks");
    let response = http.get(&locks).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = http
        .put(&locks)
        .bearer_auth(&token)
        .json(&lock(1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = http
        .put(&locks)
        .bearer_auth(&token)
        .json(&lock(2))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let kept: Value = response.json().await.unwrap();
    assert_eq!(
        kept["lock"]["pipOptions"],
        json!(["--index-url=https://i.invalid/1"])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_its_digest_is_refused_and_nothing_is_stored() {
    let Some((server, workspace, token)) = setup("mismatch").await else {
        return;
    };
    let claimed = digest_of(b"the bytes the client claims");
    let sent = b"other bytes entirely";
    let response = reqwest::Client::new()
        .put(server.api(&format!("/workspaces/{workspace}/blobs/{claimed}")))
        .bearer_auth(&token)
        .body(sent.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
    assert_eq!(body["details"]["actual"], digest_of(sent));
    assert_eq!(server.blobs.size(&claimed).await.unwrap(), None);
    assert_eq!(server.blobs.size(&digest_of(sent)).await.unwrap(), None);
    let remote = server.remote(&workspace, &token);
    assert_eq!(
        remote
            .missing(std::slice::from_ref(&claimed))
            .await
            .unwrap(),
        vec![claimed.clone()]
    );
    // Through the client: the same refusal, as the local error.
    let file = file_with(sent);
    let error = remote.put_file(&claimed, file.path()).await.unwrap_err();
    assert!(matches!(error, StoreError::CorruptBlob { .. }), "{error}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_pointing_at_blobs_not_uploaded_here_are_refused() {
    let Some((server, workspace, token)) = setup("missing").await else {
        return;
    };
    let remote = server.remote(&workspace, &token);
    let absent = digest_of(b"never uploaded");
    let error = remote
        .create_run(&run_record(&unique("run"), Some(&absent)))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::MissingBlob { .. }), "{error}");
    let response = reqwest::Client::new()
        .post(server.api(&format!("/workspaces/{workspace}/runs")))
        .bearer_auth(&token)
        .json(&strata_store::store::to_wire(&run_record(
            &unique("run"),
            Some(&absent),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "missing_blob");

    // A blob another workspace uploaded is missing here: its digest proves nothing.
    let other = server.workspace("other").await;
    let other_token = server
        .token(&unique("other"), &other, Role::Contributor)
        .await;
    let other_remote = server.remote(&other, &other_token);
    let file = file_with(b"a snapshot of the other workspace");
    let digest = other_remote
        .upload_missing(&[PathBuf::from(file.path())])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        remote.missing(std::slice::from_ref(&digest)).await.unwrap(),
        vec![digest.clone()]
    );
    assert_eq!(
        remote.size(&digest).await.unwrap(),
        None,
        "not readable here"
    );
    let error = remote
        .create_run(&run_record(&unique("run"), Some(&digest)))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::MissingBlob { .. }), "{error}");
    // Once uploaded here too, it may be used.
    remote
        .upload_missing(&[PathBuf::from(file.path())])
        .await
        .unwrap();
    assert!(
        remote
            .missing(std::slice::from_ref(&digest))
            .await
            .unwrap()
            .is_empty()
    );
    remote
        .create_run(&run_record(&unique("run"), Some(&digest)))
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_download_whole_or_by_range_and_large_uploads_stream() {
    let Some((server, workspace, token)) = setup("range").await else {
        return;
    };
    let remote = server.remote(&workspace, &token);
    // Larger than the server's 1 MiB body limit: uploads are not limited, they stream.
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = file_with(&bytes);
    let digest = remote
        .upload_missing(&[PathBuf::from(file.path())])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(digest, digest_of(&bytes));
    assert_eq!(
        remote.size(&digest).await.unwrap(),
        Some(bytes.len() as u64)
    );
    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("back.bin");
    remote.get_to_file(&digest, &back).await.unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), bytes);

    let http = reqwest::Client::new();
    let url = server.api(&format!("/workspaces/{workspace}/blobs/{digest}"));
    let ranged = |range: &'static str| {
        http.get(&url)
            .bearer_auth(&token)
            .header("range", range)
            .send()
    };
    let response = ranged("bytes=10-19").await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()["content-range"], "bytes 10-19/3000000");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let response = ranged("bytes=-5").await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &bytes[bytes.len() - 5..]
    );
    let response = ranged("bytes=2999990-").await.unwrap();
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &bytes[2_999_990..]
    );
    let response = ranged("bytes=3000000-").await.unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(response.headers()["content-range"], "bytes */3000000");
    // Immutable: revalidation answers 304.
    let response = http
        .get(&url)
        .bearer_auth(&token)
        .header("if-none-match", format!("\"{digest}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = http.head(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.headers()["content-length"], "3000000");
    assert_eq!(response.headers()["accept-ranges"], "bytes");

    // Other bodies are limited.
    let big = vec![json!({"name": "m", "kind": "scalar", "value": 1, "loggedAt": 0}); 40_000];
    let run = unique("run");
    remote.create_run(&run_record(&run, None)).await.unwrap();
    let response = http
        .post(server.api(&format!("/workspaces/{workspace}/runs/{run}/metrics")))
        .bearer_auth(&token)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request", "{body}");
    // A body that is not what the route takes: the same JSON error, saying what is wrong.
    // (A new client: the server closed the connection it did not read the large body of.)
    let response = reqwest::Client::new()
        .post(server.api(&format!("/workspaces/{workspace}/blobs:missing")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"digest": []}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("digests"),
        "{body}"
    );
    server.stop().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_followed_to_the_end_and_bad_pages_refused() {
    let Some((server, workspace, token)) = setup("pages").await else {
        return;
    };
    let remote = server.remote(&workspace, &token);
    for n in 0..7 {
        remote
            .register_environment(
                environment(&format!("env-{n}"), "python:3.12"),
                RegisterOptions::default(),
            )
            .await
            .unwrap();
    }
    let http = reqwest::Client::new();
    let base = server.api(&format!("/workspaces/{workspace}/environments"));
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = http
            .get(&base)
            .bearer_auth(&token)
            .query(&[("limit", "3"), ("prefix", "env-")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: Value = request.send().await.unwrap().json().await.unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            names.push(item["name"].as_str().unwrap().to_string());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..7).map(|n| format!("env-{n}")).collect::<Vec<_>>()
    );
    // Through the client, every page too; the curated environments a workspace starts with
    // are listed with the rest.
    let everything = strata_store::store::collect_all(|cursor| {
        let remote = remote.clone();
        async move {
            remote
                .list_environments(&Default::default(), cursor.as_deref(), 2)
                .await
        }
    })
    .await
    .unwrap();
    let mut listed: Vec<String> = everything.iter().map(|e| e.name.clone()).collect();
    assert!(listed.iter().filter(|n| n.starts_with("env-")).count() == 7);
    let total = listed.len();
    listed.dedup();
    assert_eq!(listed.len(), total, "no name twice across pages");
    for (query, code) in [
        ("limit=501", "invalid_request"),
        ("limit=0", "invalid_request"),
        ("cursor=zz", "invalid_request"),
    ] {
        let response = http
            .get(format!("{base}?{query}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{query}: {body}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_ids_and_errors_one_body() {
    let Some((server, workspace, token)) = setup("ids").await else {
        return;
    };
    let http = reqwest::Client::new();
    let response = http
        .get(server.api("/me"))
        .bearer_auth(&token)
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-chosen-42");
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["workspace"], workspace.as_str());
    let response = http.get(server.api("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(generated.len(), 36, "a generated UUID: {generated}");
    // A token in the query string is never read.
    let response = http
        .get(format!(
            "{}?access_token={token}&token={token}",
            server.api("/me")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for (path, status, code) in [
        ("/no/such/route", StatusCode::NOT_FOUND, "not_found"),
        (
            &*format!("/workspaces/{workspace}/runs/nope"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        let response = http
            .get(server.api(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code);
        assert!(
            body["message"].is_string() && body["details"].is_object(),
            "{body}"
        );
    }
    let response = http
        .get(server.api("/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_checks_the_token_before_saving_it() {
    let Some((server, workspace, token)) = setup("login").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strata/credentials.toml");
    let url = server.workspace_url(&workspace);
    let bad = strata_store::store::generate_token().unwrap();
    let error = strata_client::login_to(&path, &url, &bad.as_str().into())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("Not authenticated"), "{error}");
    assert!(!error.to_string().contains(&bad) && !format!("{error:?}").contains(&bad));
    assert!(!path.exists(), "nothing saved for a refused token");
    let principal = strata_client::login_to(&path, &server.url, &token.as_str().into())
        .await
        .unwrap();
    assert_eq!(principal.workspace.as_deref(), Some(workspace.as_str()));
    let saved = strata_client::Credentials::load(&path).unwrap();
    assert_eq!(saved.token_for(&url).unwrap().unwrap().expose(), token);
    let remote = server.remote(&workspace, saved.token_for(&url).unwrap().unwrap().expose());
    assert!(
        !format!("{remote:?}").contains(&token),
        "no token in Debug output"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_s3_is_unavailable_and_a_down_database_fails_health() {
    let Some(records) = common::postgres().await else {
        return;
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("nowhere")
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_retry(object_store::RetryConfig {
            max_retries: 0,
            retry_timeout: Duration::from_secs(1),
            ..Default::default()
        })
        .build()
        .unwrap();
    let blobs: Arc<dyn BlobStorage> = Arc::new(strata_server::ObjectBlobs::new(
        Arc::new(s3),
        "blobs",
        "s3://nowhere/blobs",
    ));
    let server = TestServer::start_over(records, Blobs::Given(blobs))
        .await
        .unwrap();
    let workspace = server.workspace("nos3").await;
    let token = server
        .token(&unique("c"), &workspace, Role::Contributor)
        .await;
    let response = reqwest::Client::new()
        .post(server.api(&format!("/workspaces/{workspace}/blobs:missing")))
        .bearer_auth(&token)
        .json(&json!({"digests": [digest_of(b"x")]}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap_or_default();
    // Only granted digests reach storage; this one is not, so it is missing without asking S3.
    assert_eq!(body["missing"], json!([digest_of(b"x")]));
    let remote = server.remote(&workspace, &token);
    let file = file_with(b"x");
    let error = remote
        .put_file(&digest_of(b"x"), file.path())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable { .. }), "{error}");
    assert!(error.to_string().contains("s3://nowhere/blobs"), "{error}");
    assert!(
        !error.to_string().contains(&port.to_string()),
        "5xx hide the cause: {error}"
    );
    server.stop().await;

    // A server whose database went away answers 503 on /health, without a token.
    let url = std::env::var("STRATA_TEST_PG_URI").unwrap();
    let lost = Arc::new(
        strata_store_postgres::PostgresStore::connect(&url)
            .await
            .unwrap(),
    );
    let server = TestServer::start_over(lost.clone(), Blobs::Directory)
        .await
        .unwrap();
    let response = reqwest::get(server.api("/health")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    lost.close().await;
    let response = reqwest::get(server.api("/health")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_a_database_with_pending_migrations() {
    let Some(url) = std::env::var("STRATA_TEST_PG_URI")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        // `postgres()` decides between skipping and failing.
        assert!(common::postgres().await.is_none());
        return;
    };
    // The cluster's default database has never been migrated.
    let mut empty = url::Url::parse(&url).unwrap();
    empty.set_path("/postgres");
    let records = Arc::new(
        strata_store_postgres::PostgresStore::connect(empty.as_str())
            .await
            .unwrap(),
    );
    let supported = strata_store_postgres::PostgresStore::supported_schema();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = strata_server::open_blobs(&format!("file://{}", dir.path().display())).unwrap();
    let error = strata_server::serve(
        listener,
        strata_store::store::ServerBackends { records, blobs },
        strata_server::ServerOptions::default(),
        async {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, strata_server::ServerError::SchemaPending { found: 0, supported: s } if s == supported),
        "{error}"
    );
    assert!(
        error.to_string().contains("`strata server migrate`"),
        "{error}"
    );
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
