//! The API's own rules, through `RemoteStore` and raw HTTP: concurrent registrations,
//! pagination, errors, request ids, login, health and schema checks. Blobs are in `blobs.rs`,
//! conditional changes in `conditional.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Blobs, TestServer, digest_of, environment, file_with, setup, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};
use strata_store::store::{BlobStorage, Role, WorkspaceStore};
use strata_store::{RegisterOptions, StoreError};

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
