//! Who may call what: every route for every kind of caller, lists filtered by membership,
//! and the rules for tokens that owners make.

mod common;

use std::path::PathBuf;

use common::{TestServer, environment, unique};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use strata_server::{ROUTES, RefusalLimits, RouteAccess};
use strata_store::store::{Action, Actor, AuditQuery, Role, ServerStore as _, WorkspaceStore as _};
use strata_store::{ModelRecord, RegisterOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Malformed,
    Revoked,
    Expired,
    Outsider,
    Member(Role),
}

fn expected_denial(access: RouteAccess, caller: Caller) -> Option<(StatusCode, &'static str)> {
    let unauthenticated = Some((StatusCode::UNAUTHORIZED, "unauthenticated"));
    match (access, caller) {
        (RouteAccess::Public, _) => None,
        (_, Caller::NoToken | Caller::Malformed | Caller::Revoked | Caller::Expired) => {
            unauthenticated
        }
        (RouteAccess::Token, _) => None,
        (RouteAccess::Workspace(_), Caller::Outsider) => Some((StatusCode::NOT_FOUND, "not_found")),
        (RouteAccess::Workspace(action), Caller::Member(role)) => {
            let allowed = match action {
                Action::Read => true,
                Action::Write => role >= Role::Contributor,
                Action::Manage => role == Role::Owner,
            };
            (!allowed).then_some((StatusCode::FORBIDDEN, "forbidden"))
        }
    }
}

struct Fixture {
    workspace: String,
    run: String,
    digest: String,
}

fn concrete(path: &str, fixture: &Fixture) -> String {
    let mut out = Vec::new();
    let mut previous = "";
    for segment in path.split('/') {
        let value = match segment {
            "{ws}" => fixture.workspace.clone(),
            "{name}" => match previous {
                "environments" => "matrix-env".to_string(),
                "models" => "matrix-model".to_string(),
                "targets" => "matrix-target".to_string(),
                _ => "matrix-service".to_string(),
            },
            "{version}" => "1".to_string(),
            "{ecosystem}" => "pypi".to_string(),
            "{label}" => "matrix-label".to_string(),
            "{id}" if previous == "runs" => fixture.run.clone(),
            "{id}" => "no-such-token".to_string(),
            "{digest}" => fixture.digest.clone(),
            "{user}" => "nobody-in-particular".to_string(),
            other => other.to_string(),
        };
        previous = segment;
        out.push(value);
    }
    out.join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_every_caller_as_its_role_allows() {
    let Some(server) = TestServer::start().await else {
        return;
    };
    let workspace = server.workspace("matrix").await;
    let elsewhere = server.workspace("elsewhere").await;
    let mut tokens = Vec::new();
    // Who holds each token, for the audit rows of their refusals.
    let mut users = Vec::new();
    for role in [Role::Reader, Role::Contributor, Role::Owner] {
        let user = unique(role.as_str());
        let (token, id) = server
            .token_with(&user, Some(&workspace), Some(role), None)
            .await;
        tokens.push((Caller::Member(role), Some(token)));
        users.push((Caller::Member(role), user, id));
    }
    let outsider_user = unique("outsider");
    let (outsider, outsider_id) = server
        .token_with(&outsider_user, Some(&elsewhere), Some(Role::Owner), None)
        .await;
    tokens.push((Caller::Outsider, Some(outsider)));
    users.push((Caller::Outsider, outsider_user, outsider_id));
    let revoked_user = unique("revoked");
    let (revoked, revoked_id) = server
        .token_with(&revoked_user, Some(&workspace), Some(Role::Owner), None)
        .await;
    users.push((Caller::Revoked, revoked_user, revoked_id.clone()));
    server
        .records
        .revoke_token(&revoked_id, &Actor::local())
        .await
        .unwrap();
    tokens.push((Caller::Revoked, Some(revoked)));
    let expired_user = unique("expired");
    let (expired, expired_id) = server
        .token_with(
            &expired_user,
            Some(&workspace),
            Some(Role::Owner),
            Some(strata_store::now_millis() - 60_000),
        )
        .await;
    users.push((Caller::Expired, expired_user, expired_id));
    tokens.push((Caller::Expired, Some(expired)));
    tokens.push((
        Caller::Malformed,
        Some("strata_pat_0000000000000000000000000000000000000000000000000".into()),
    ));
    tokens.push((Caller::NoToken, None));

    // Something behind every path parameter, so allowed calls reach their handler.
    let owner = tokens[2].1.clone().unwrap();
    let remote = server.remote(&workspace, &owner);
    remote
        .register_environment(
            environment("matrix-env", "python:3.12"),
            RegisterOptions::default(),
        )
        .await
        .unwrap();
    let blob = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(blob.path(), b"matrix blob").unwrap();
    let digest = remote
        .upload_missing(&[PathBuf::from(blob.path())])
        .await
        .unwrap()
        .remove(0);
    let run = unique("run");
    let record: strata_store::RunRecord = serde_json::from_value(json!({
        "id": run, "experiment": "matrix", "status": strata_store::QUEUED,
        "envName": "matrix-env", "envVersion": 1, "lockHash": null, "script": "train.py",
        "arguments": [], "sourceDir": "/src", "snapshot": null, "runDir": "/tmp/matrix-run",
        "outputs": null, "logs": null, "exitCode": null, "error": null,
        "queuedAt": 1_000, "target": "local", "image": null,
    }))
    .unwrap();
    remote.create_run(&record).await.unwrap();
    remote
        .register_model(ModelRecord {
            name: "matrix-model".into(),
            version: 0,
            manifest: digest.clone(),
            path: "model.bin".into(),
            description: None,
            run_id: None,
            experiment: None,
            env_name: None,
            env_version: None,
            lock_hash: None,
            created_at: 1_000,
        })
        .await
        .unwrap();
    let fixture = Fixture {
        workspace: workspace.clone(),
        run,
        digest,
    };

    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    // Every request's id, so this test finds the audit rows of its own refusals.
    let ids = unique("matrix-request");
    let mut sent = 0;
    for route in ROUTES {
        let path = concrete(route.path, &fixture);
        let method = Method::from_bytes(route.method.to_uppercase().as_bytes()).unwrap();
        for (caller, token) in &tokens {
            sent += 1;
            let mut request = http
                .request(method.clone(), server.api(&path))
                .header("x-request-id", format!("{ids}-{sent}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                request = request
                    .header("content-type", "application/json")
                    .body("{}");
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = if method == Method::HEAD {
                Value::Null
            } else {
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null)
            };
            let what = format!("{} {path} as {caller:?}", route.method);
            if status.as_u16() >= 400 && method != Method::HEAD && !body["code"].is_string() {
                failures.push(format!(
                    "{what}: {status} without the JSON error body: {body}"
                ));
            }
            match expected_denial(route.access, *caller) {
                Some((expected, code)) => {
                    let code_ok = method == Method::HEAD || body["code"] == code;
                    let hidden = *caller != Caller::Outsider
                        || method == Method::HEAD
                        || body["details"]["what"] == format!("Workspace `{workspace}`");
                    if status != expected || !code_ok || !hidden {
                        failures.push(format!(
                            "{what}: {status} {body}, expected {expected} {code}"
                        ));
                    }
                }
                None => {
                    let refused = matches!(
                        status,
                        StatusCode::UNAUTHORIZED
                            | StatusCode::FORBIDDEN
                            | StatusCode::METHOD_NOT_ALLOWED
                    ) || body["details"]["kind"] == "no_route"
                        || body["details"]["what"] == format!("Workspace `{workspace}`")
                        || status.is_server_error();
                    if refused {
                        failures.push(format!("{what}: {status} {body}, expected it allowed"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Each kind of refused caller left one audit row (the first of its refusals this minute;
    // the others are counted), naming the token by id when it is known, never the token.
    let events = strata_store::store::collect_all(|cursor| {
        let records = server.records.clone();
        async move {
            records
                .audit(&AuditQuery::default(), cursor.as_deref(), 500)
                .await
        }
    })
    .await
    .unwrap();
    let refusals: Vec<_> = events
        .into_iter()
        .filter(|e| {
            e.request_id
                .as_deref()
                .is_some_and(|id| id.starts_with(&format!("{ids}-")))
        })
        .collect();
    let user_of = |caller| users.iter().find(|(c, _, _)| *c == caller).unwrap();
    let mut expected = vec![
        ("auth.no_token".to_string(), String::new(), None, None),
        (
            "auth.malformed_token".to_string(),
            String::new(),
            None,
            None,
        ),
    ];
    for (caller, action, workspace) in [
        (Caller::Revoked, "auth.revoked_token", None),
        (Caller::Expired, "auth.expired_token", None),
        (Caller::Outsider, "auth.not_member", Some(&workspace)),
        (
            Caller::Member(Role::Reader),
            "auth.forbidden",
            Some(&workspace),
        ),
        (
            Caller::Member(Role::Contributor),
            "auth.forbidden",
            Some(&workspace),
        ),
    ] {
        let (_, user, token_id) = user_of(caller);
        expected.push((
            action.to_string(),
            user.clone(),
            Some(token_id.clone()),
            workspace.cloned(),
        ));
    }
    let mut found: Vec<_> = refusals
        .iter()
        .map(|e| {
            (
                e.action.clone(),
                e.user.clone(),
                e.token_id.clone(),
                // A token is refused (and written) first on whichever route comes first,
                // with a workspace or without; a role only in a workspace.
                if matches!(e.action.as_str(), "auth.not_member" | "auth.forbidden") {
                    e.workspace.clone()
                } else {
                    None
                },
            )
        })
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(
        found, expected,
        "one audit row per refused caller: {refusals:#?}"
    );
    for event in &refusals {
        assert_eq!(event.client.as_deref(), Some("127.0.0.1"), "{event:?}");
        assert!(
            event.resource.starts_with("GET ") || event.resource.contains(" /api/v1/"),
            "the row says what was asked: {event:?}"
        );
        let row = serde_json::to_string(event).unwrap();
        for (_, token) in &tokens {
            if let Some(token) = token {
                assert!(
                    !row.contains(token.as_str()),
                    "a token in the audit log: {row}"
                );
                assert!(
                    !row.contains(&strata_store::store::token_hash(token)),
                    "a token hash in the audit log: {row}"
                );
            }
        }
    }
    server.stop().await;
}

/// A flood of refused requests writes a bounded number of rows: the first per caller and
/// window, up to the window's limit, and one row counting the rest when the window ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_requests_is_counted_not_written_row_by_row() {
    let window = std::time::Duration::from_secs(2);
    let Some(server) = TestServer::start_with_refusals(RefusalLimits {
        window,
        rows_per_window: 3,
    })
    .await
    else {
        return;
    };
    let started = strata_store::now_millis();
    let workspace = server.workspace("flood").await;
    let (revoked, _) = server.revoked_token(&unique("flooder"), &workspace).await;
    let ids = unique("flood-request");
    let http = reqwest::Client::new();
    let path = server.api(&format!("/workspaces/{workspace}/runs"));
    let mut tasks = Vec::new();
    for n in 0..60 {
        // 50 with the revoked token, then 10 unknown ones, each a caller of its own.
        let token = if n < 50 {
            revoked.clone()
        } else {
            strata_store::store::generate_token().unwrap()
        };
        let request = http
            .get(&path)
            .bearer_auth(token)
            .header("x-request-id", format!("{ids}-{n}"));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    // The window ends and the server writes what it counted.
    tokio::time::sleep(window * 3).await;
    let events = server
        .records
        .audit(&AuditQuery::default(), None, 500)
        .await
        .unwrap()
        .items;
    let written: Vec<_> = events
        .iter()
        .filter(|e| {
            e.request_id
                .as_deref()
                .is_some_and(|id| id.starts_with(&format!("{ids}-")))
        })
        .collect();
    assert_eq!(written.len(), 3, "the window's limit of rows: {written:#?}");
    let revoked_rows = written
        .iter()
        .filter(|e| e.action == "auth.revoked_token")
        .count();
    let unknown_rows = written
        .iter()
        .filter(|e| e.action == "auth.unknown_token")
        .count();
    assert!(
        revoked_rows <= 1 && revoked_rows + unknown_rows == 3,
        "the revoked token is written once at most: {written:#?}"
    );
    let counted = events
        .iter()
        .find(|e| e.action == "auth.suppressed" && e.at >= started && e.repeats == 57);
    assert!(
        counted.is_some(),
        "one row counts the other 57 refusals: {:#?}",
        &events[..events.len().min(10)]
    );
    server.stop().await;
}

async fn get(server: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(server.api(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_show_only_what_the_caller_may_open() {
    let Some(server) = TestServer::start().await else {
        return;
    };
    let first = server.workspace("first").await;
    let second = server.workspace("second").await;
    let hidden = server.workspace("hidden").await;
    let user = unique("member");
    // A user token open to all of the user's workspaces, a reader of two of them.
    let (token, _) = server.token_with(&user, None, None, None).await;
    for workspace in [&first, &second] {
        server
            .records
            .set_member(workspace, &user, Some(Role::Reader), &Actor::local())
            .await
            .unwrap();
    }
    let (status, page) = get(&server, &token, "/workspaces").await;
    assert_eq!(status, StatusCode::OK);
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(names(&page), expected, "a user sees only their workspaces");
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["role"] == "reader")
    );

    // Paged, and never another workspace.
    let (_, one) = get(&server, &token, "/workspaces?limit=1").await;
    assert_eq!(names(&one), vec![expected[0].clone()]);
    let cursor = one["nextCursor"].as_str().unwrap();
    let (_, two) = get(
        &server,
        &token,
        &format!("/workspaces?limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(names(&two), vec![expected[1].clone()]);
    assert_eq!(two["nextCursor"], Value::Null);

    // The workspace the user is not in does not exist for them, in lists or gets.
    let (status, body) = get(
        &server,
        &token,
        &format!("/workspaces/{hidden}/environments"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // A token limited to one workspace lists that one only.
    let limited = server.token(&user, &first, Role::Reader).await;
    let (_, page) = get(&server, &limited, "/workspaces").await;
    assert_eq!(names(&page), vec![first.clone()]);
    let (status, _) = get(&server, &limited, &format!("/workspaces/{second}/runs")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Admins see every workspace.
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/workspaces?limit=500&cursor={c}"),
            None => "/workspaces?limit=500".to_string(),
        };
        let (_, page) = get(&server, &server.admin, &path).await;
        all.extend(names(&page));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    for workspace in [&first, &second, &hidden] {
        assert!(all.contains(workspace), "the admin sees `{workspace}`");
    }
    let (status, body) = get(
        &server,
        &server.admin,
        &format!("/workspaces/{}/environments", unique("absent")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_make_tokens_no_stronger_than_their_own() {
    let Some(server) = TestServer::start().await else {
        return;
    };
    let workspace = server.workspace("tokens").await;
    let owner_user = unique("owner");
    let soon = strata_store::now_millis() + 3_600_000;
    let (owner, _) = server
        .token_with(&owner_user, Some(&workspace), Some(Role::Owner), Some(soon))
        .await;
    let member = unique("member");
    server
        .records
        .set_member(&workspace, &member, Some(Role::Owner), &Actor::local())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let create = |body: Value| {
        http.post(server.api(&format!("/workspaces/{workspace}/tokens")))
            .bearer_auth(&owner)
            .json(&body)
            .send()
    };

    // Longer-lived than the owner's token: refused.
    let later = strata_store::format_time(soon + 86_400_000);
    let response = create(json!({"user": member, "role": "reader", "expiresAt": later}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // For someone who is not a member: refused.
    let response = create(json!({"user": unique("stranger"), "role": "reader"}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A contributor token for a member who is an owner: it writes, it does not manage.
    let in_half_an_hour = strata_store::format_time(soon - 1_800_000);
    let response =
        create(json!({"user": member, "role": "contributor", "expiresAt": in_half_an_hour}))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["record"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["record"]["role"], "contributor");
    let remote = server.remote(&workspace, &token);
    remote
        .register_environment(
            environment("by-token", "python:3.12"),
            RegisterOptions::default(),
        )
        .await
        .expect("a contributor token writes");
    let (status, _) = get(&server, &token, &format!("/workspaces/{workspace}/members")).await;
    assert_eq!(status, StatusCode::OK, "reading members is reading");
    let (status, body) = get(&server, &token, &format!("/workspaces/{workspace}/tokens")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the token's role caps the member's: {body}"
    );
    // Listed (never with the token itself), then revoked: it stops working at once.
    let (_, listed) = get(&server, &owner, &format!("/workspaces/{workspace}/tokens")).await;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str())
    );
    assert!(!listed.to_string().contains("strata_pat_"));
    let response = http
        .delete(server.api(&format!("/workspaces/{workspace}/tokens/{id}")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = get(&server, &token, "/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Members: owners manage them.
    let response = http
        .put(server.api(&format!(
            "/workspaces/{workspace}/members/{}",
            unique("new")
        )))
        .bearer_auth(&owner)
        .json(&json!({"role": "reader"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = http
        .delete(server.api(&format!("/workspaces/{workspace}/members/{member}")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        server.records.role_of(&member, &workspace).await.unwrap(),
        None
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_shows_owners_everything_and_others_their_own() {
    let Some(server) = TestServer::start().await else {
        return;
    };
    let workspace = server.workspace("audit").await;
    let owner = server
        .token(&unique("owner"), &workspace, Role::Owner)
        .await;
    let writer_user = unique("writer");
    let writer = server
        .token(&writer_user, &workspace, Role::Contributor)
        .await;
    let reader_user = unique("reader");
    let reader = server.token(&reader_user, &workspace, Role::Reader).await;
    for (token, name) in [(&owner, "by-owner"), (&writer, "by-writer")] {
        server
            .remote(&workspace, token)
            .register_environment(environment(name, "python:3.12"), RegisterOptions::default())
            .await
            .unwrap();
    }
    let path = format!("/workspaces/{workspace}/audit?limit=500");
    let (status, all) = get(&server, &owner, &path).await;
    assert_eq!(status, StatusCode::OK);
    let users: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["user"].as_str().unwrap())
        .collect();
    assert!(users.contains(&writer_user.as_str()), "{all}");
    assert!(users.len() >= 2);
    let (_, own) = get(&server, &writer, &path).await;
    let items = own["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|e| e["user"] == writer_user.as_str()),
        "{own}"
    );
    let (_, none) = get(&server, &reader, &path).await;
    assert_eq!(none["items"], json!([]), "{none}");
    // The request id of a change is in its audit event.
    assert!(items.iter().all(|e| e["requestId"].is_string()), "{own}");
    server.stop().await;
}

/// A sign-in to a workspace's pages that is refused is audited as a refused API request is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sign_ins_to_the_pages_are_audited() {
    let Some(server) = TestServer::start().await else {
        return;
    };
    let workspace = server.workspace("pages-refused").await;
    let (revoked, revoked_id) = server.revoked_token(&unique("revoked"), &workspace).await;
    // A valid token of a user who is not a member.
    let (stranger, stranger_id) = server
        .token_with(&unique("stranger"), None, None, None)
        .await;
    let ids = unique("sign-in");
    let http = reqwest::Client::new();
    let login = format!("{}/w/{workspace}/login", server.url);
    for (n, token) in ["strata_pat_not-a-token", &revoked, &stranger]
        .into_iter()
        .enumerate()
    {
        let form = http.get(&login).send().await.unwrap();
        let cookie = form
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("strata_sign_in="))
            .and_then(|v| v.split(';').next())
            .expect("a sign-in cookie")
            .to_string();
        let response = http
            .post(&login)
            .header("cookie", format!("strata_sign_in={cookie}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-request-id", format!("{ids}-{n}"))
            .body(format!("csrf={cookie}&token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "sign-in {n}");
    }
    let events = server
        .records
        .audit(&AuditQuery::default(), None, 500)
        .await
        .unwrap()
        .items;
    let mut found: Vec<_> = events
        .iter()
        .filter(|e| {
            // The stranger's session is started, then ended when it opens nothing: audited
            // as changes, beside the refusal.
            e.action.starts_with("auth.")
                && e.request_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with(&format!("{ids}-")))
        })
        .map(|e| {
            (
                e.request_id.clone().unwrap(),
                e.action.as_str(),
                e.token_id.clone(),
                e.workspace.clone(),
                e.resource.clone(),
            )
        })
        .collect();
    found.sort();
    let resource = format!("POST /w/{workspace}/login");
    let at = |n| format!("{ids}-{n}");
    assert_eq!(
        found,
        vec![
            (
                at(0),
                "auth.malformed_token",
                None,
                Some(workspace.clone()),
                resource.clone()
            ),
            (
                at(1),
                "auth.revoked_token",
                Some(revoked_id),
                Some(workspace.clone()),
                resource.clone()
            ),
            (
                at(2),
                "auth.not_member",
                Some(stranger_id),
                Some(workspace.clone()),
                resource
            ),
        ]
    );
    server.stop().await;
}
