//! The OpenAPI document's schemas against the real server: one story through every route,
//! each JSON body sent and answered validated against the schema the document gives for its
//! route and status. Objects are checked closed (no property the schema does not name), so a
//! field added to a record without its schema fails here.

mod common;

use std::collections::BTreeSet;

use common::{TestServer, digest_of, environment, unique};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use strata_server::{Body, ROUTES, openapi_document};
use strata_store::store::Role;

#[path = "schemas/story.rs"]
mod story;

use story::{Story, closed};

#[test]
fn every_json_body_of_every_route_has_a_schema() {
    let document = openapi_document();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    for (name, schema) in schemas {
        assert!(
            schema.as_object().is_some_and(|s| !s.is_empty()),
            "schema `{name}` says nothing: {schema}"
        );
    }
    let mut used = BTreeSet::new();
    fn refs(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.insert(target.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    refs(&document, &mut used);
    for target in &used {
        let name = target.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas.contains_key(name), "`{target}` names no schema");
    }
    for route in ROUTES {
        let what = format!("{} {}", route.method, route.path);
        let operation = &document["paths"][route.path][route.method];
        let media = |content: &Value, body: Body| -> Map<String, Value> {
            content[body.media_type()]
                .as_object()
                .unwrap_or_else(|| panic!("{what}: no {} content", body.media_type()))
                .clone()
        };
        if let Some(body) = route.request {
            let content = media(&operation["requestBody"]["content"], body);
            if let Body::Json(_) = body {
                assert!(
                    content["schema"].as_object().is_some_and(|s| !s.is_empty()),
                    "{what}: the request body has no schema"
                );
            }
        } else {
            assert!(operation.get("requestBody").is_none(), "{what}");
        }
        for status in std::iter::once(&route.status).chain(route.also) {
            let response = &operation["responses"][status.to_string()];
            match route.response {
                // 204 has no body, whatever the route's other answers carry.
                _ if *status == 204 => assert!(
                    response.get("content").is_none(),
                    "{what} {status}: a body documented"
                ),
                Some(body) => {
                    let content = media(&response["content"], body);
                    if let Body::Json(_) = body {
                        assert!(
                            content["schema"].as_object().is_some_and(|s| !s.is_empty()),
                            "{what} {status}: the response has no schema"
                        );
                    }
                }
                None => assert!(response.get("content").is_none(), "{what} {status}"),
            }
        }
        // Every answer with a body but 204 and HEAD is described.
        if route.status != 204 && route.method != "head" {
            assert!(
                route.response.is_some(),
                "{what}: its answer is undescribed"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_of_a_story_matches_its_schema() {
    let Some(server) = TestServer::start().await else {
        return;
    };
    let workspace = server.workspace("schemas").await;
    let owner = unique("owner");
    let token = server.token(&owner, &workspace, Role::Owner).await;
    let document = openapi_document();
    let mut schemas = document["components"]["schemas"].clone();
    closed(&mut schemas);
    let mut story = Story {
        server,
        http: reqwest::Client::new(),
        token,
        document,
        schemas,
        covered: BTreeSet::new(),
        failures: Vec::new(),
    };
    let ws = workspace.as_str();
    let env = "schema-env";
    let at = |extra: &[(&'static str, &'static str)]| {
        let mut params = vec![("ws", ws), ("name", env)];
        params.extend_from_slice(extra);
        params
    };

    // The server.
    story.expect(200, "get", "/health", &[], &[], None).await;
    story
        .expect(200, "get", "/openapi.json", &[], &[], None)
        .await;
    story.expect(200, "get", "/me", &[], &[], None).await;
    story
        .expect(200, "get", "/workspaces", &[], &[], None)
        .await;

    // An environment: registered, registered again, an explicit version; read back.
    let definition = json!(strata_store::DefinitionDocument::of(&environment(
        env,
        "python:3.12"
    )));
    let versions = "/workspaces/{ws}/environments/{name}/versions";
    let registered = story
        .expect(
            201,
            "post",
            versions,
            &at(&[]),
            &[],
            Some(definition.clone()),
        )
        .await;
    assert_eq!(registered["created"], true);
    let mut anonymous = definition.clone();
    anonymous["anonymous"] = json!(false);
    story
        .expect(200, "post", versions, &at(&[]), &[], Some(anonymous))
        .await;
    let version = "/workspaces/{ws}/environments/{name}/versions/{version}";
    let mut explicit = json!(strata_store::DefinitionDocument::of(&environment(
        env,
        "python:3.13"
    )));
    explicit["metadata"] = json!({"description": "the second", "tags": {"team": "ml"}});
    story
        .expect(
            201,
            "put",
            version,
            &at(&[("version", "7")]),
            &[],
            Some(explicit),
        )
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/environments",
            &[("ws", ws)],
            &[("allVersions", "true")],
            None,
        )
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/environments/{name}",
            &at(&[]),
            &[],
            None,
        )
        .await;
    story
        .expect(200, "get", versions, &at(&[]), &[("limit", "1")], None)
        .await;
    story
        .expect(200, "get", version, &at(&[("version", "1")]), &[], None)
        .await;

    // Its lock: stored, kept, read.
    let locks = "/workspaces/{ws}/environments/{name}/versions/{version}/locks";
    let lock = json!({
        "version": strata_spec::LOCK_FORMAT_VERSION, "platform": "linux-64",
        "python": {"version": "3.12.7", "source": "conda"},
        "conda": [{"name": "python", "version": "3.12.7", "build": "h0_0", "channel": "conda-forge",
                   "subdir": "linux-64", "url": "https://conda.invalid/python.conda", "sha256": "00"}],
        "pypi": [{"name": "numpy", "version": "2.1.0",
                  "source": {"kind": "index", "url": "https://pypi.invalid/simple"}, "hashes": ["ab"]}],
        "pipOptions": ["--index-url=https://pypi.invalid/simple"],
    });
    let v1 = at(&[("version", "1")]);
    let stored = story
        .expect(201, "put", locks, &v1, &[], Some(lock.clone()))
        .await;
    let lock_hash = stored["lockHash"].as_str().unwrap().to_string();
    story.expect(200, "put", locks, &v1, &[], Some(lock)).await;
    story.expect(200, "get", locks, &v1, &[], None).await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/locks",
            &[("ws", ws)],
            &[],
            None,
        )
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/packages/{ecosystem}/{name}",
            &[("ws", ws), ("ecosystem", "pypi"), ("name", "NumPy")],
            &[],
            None,
        )
        .await;

    // A blob: missing, uploaded, read.
    let bytes = b"a build log\n".to_vec();
    let digest = digest_of(&bytes);
    let missing = story
        .expect(
            200,
            "post",
            "/workspaces/{ws}/blobs:missing",
            &[("ws", ws)],
            &[],
            Some(json!({"digests": [digest]})),
        )
        .await;
    assert_eq!(missing["missing"], json!([digest]));
    let blob = "/workspaces/{ws}/blobs/{digest}";
    let blob_path = format!("/workspaces/{ws}/blobs/{digest}");
    let (status, _) = story
        .send_raw(Method::PUT, blob, &blob_path, &[], bytes.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    story
        .expect(
            200,
            "get",
            blob,
            &[("ws", ws), ("digest", &digest)],
            &[],
            None,
        )
        .await;
    story
        .expect(
            200,
            "head",
            blob,
            &[("ws", ws), ("digest", &digest)],
            &[],
            None,
        )
        .await;

    // A build of the version, its time as RFC 3339 text (accepted, never sent).
    let builds = "/workspaces/{ws}/environments/{name}/versions/{version}/builds";
    let build = json!({
        "name": env, "version": 1, "lockHash": lock_hash, "status": "succeeded",
        "prefix": "/prefixes/x", "logDigest": digest, "error": null,
        "startedAt": "2025-01-02T03:04:05Z", "finishedAt": strata_store::now_millis(),
    });
    let recorded = story
        .expect(201, "post", builds, &v1, &[], Some(build))
        .await;
    assert!(recorded["startedAt"].is_i64(), "sent exactly: {recorded}");
    story.expect(200, "get", builds, &v1, &[], None).await;

    // A label.
    let label = "/workspaces/{ws}/environments/{name}/labels/{label}";
    let production = at(&[("label", "production")]);
    story
        .expect(
            200,
            "put",
            label,
            &production,
            &[],
            Some(json!({"version": "1"})),
        )
        .await;
    story
        .expect(200, "get", label, &production, &[], None)
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/environments/{name}/labels",
            &at(&[]),
            &[],
            None,
        )
        .await;

    // A run through its life, with metrics, a tag and its log.
    let run_id = unique("run");
    let mut run = json!(common::run_record(&run_id, Some(&digest)));
    run["envName"] = json!(env);
    run["queuedAt"] = json!(strata_store::now_millis());
    story
        .expect(
            201,
            "post",
            "/workspaces/{ws}/runs",
            &[("ws", ws)],
            &[],
            Some(run),
        )
        .await;
    let one = "/workspaces/{ws}/runs/{id}";
    let run_at = [("ws", ws), ("id", run_id.as_str())];
    for update in [
        json!({"state": "preparing"}),
        json!({"state": "prepared", "lockHash": lock_hash}),
        json!({"state": "running"}),
    ] {
        story
            .expect(200, "patch", one, &run_at, &[], Some(update))
            .await;
    }
    let metrics = "/workspaces/{ws}/runs/{id}/metrics";
    let now = strata_store::now_millis();
    story
        .expect(
            204,
            "post",
            metrics,
            &run_at,
            &[],
            Some(json!([
                {"name": "loss", "kind": "scalar", "value": 0.5, "loggedAt": now},
                {"name": "curve", "kind": "list", "value": [1, 2], "loggedAt": now + 1},
            ])),
        )
        .await;
    story.expect(200, "get", metrics, &run_at, &[], None).await;
    let tags = "/workspaces/{ws}/runs/{id}/tags";
    story
        .expect(
            204,
            "put",
            tags,
            &run_at,
            &[],
            Some(json!({"key": "team", "value": "ml"})),
        )
        .await;
    story
        .expect(
            204,
            "put",
            tags,
            &run_at,
            &[],
            Some(json!({"key": "flag", "value": null})),
        )
        .await;
    story.expect(200, "get", tags, &run_at, &[], None).await;
    let job = "/workspaces/{ws}/runs/{id}/job";
    story.expect(204, "get", job, &run_at, &[], None).await;
    story
        .expect(
            200,
            "put",
            job,
            &run_at,
            &[],
            Some(json!({"runId": run_id, "target": "hpc", "jobId": "42",
                        "resources": {"cpus": 2, "memory": "1G", "gpus": null, "time": null},
                        "partition": "debug", "node": "node-1", "state": "RUNNING",
                        "reason": null, "updatedAt": 1_000})),
        )
        .await;
    story.expect(200, "get", job, &run_at, &[], None).await;
    let log = "/workspaces/{ws}/runs/{id}/log";
    let log_path = format!("/workspaces/{ws}/runs/{run_id}/log");
    let (status, appended) = story
        .send_raw(
            Method::POST,
            log,
            &log_path,
            &[("offset", "0")],
            b"epoch 1\n".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{appended}");
    story.expect(200, "get", log, &run_at, &[], None).await;
    story
        .expect(
            200,
            "patch",
            one,
            &run_at,
            &[],
            Some(
                json!({"state": "finished", "status": "Completed", "exitCode": 0,
                        "error": null, "outputs": null, "logs": null}),
            ),
        )
        .await;
    story.expect(200, "get", one, &run_at, &[], None).await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/runs",
            &[("ws", ws)],
            &[],
            None,
        )
        .await;

    // A model registered from the run.
    let model = json!({
        "name": "schema-model", "version": 0, "manifest": digest, "path": "model.bin",
        "description": "a model", "runId": run_id, "experiment": "api", "envName": env,
        "envVersion": 1, "lockHash": lock_hash, "createdAt": 0,
    });
    let model_at = [("ws", ws), ("name", "schema-model")];
    story
        .expect(
            201,
            "post",
            "/workspaces/{ws}/models/{name}/versions",
            &model_at,
            &[],
            Some(model),
        )
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/models",
            &[("ws", ws)],
            &[("allVersions", "true")],
            None,
        )
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/models/{name}",
            &model_at,
            &[],
            None,
        )
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/models/{name}/versions/{version}",
            &[("ws", ws), ("name", "schema-model"), ("version", "1")],
            &[],
            None,
        )
        .await;

    // A service deploying it, then running.
    let service_at = [("ws", ws), ("name", "schema-svc")];
    let mut service = json!({
        "name": "schema-svc", "state": "deploying", "host": "127.0.0.1", "port": 8000,
        "envName": env, "envVersion": 1, "lockHash": lock_hash,
        "models": [{"name": "schema-model", "version": 1}],
        "entryScript": "score.py", "sourceDir": null, "serviceDir": "/services/x",
        "config": {"workers": 1, "cpuCores": 0.5, "memoryGb": null, "timeoutMs": 1000,
                   "corsOrigins": ["https://ui.invalid"], "serverVersionHeader": false},
        "error": null, "createdAt": now, "updatedAt": now,
    });
    let services = "/workspaces/{ws}/services/{name}";
    story
        .expect(
            201,
            "put",
            services,
            &service_at,
            &[],
            Some(service.clone()),
        )
        .await;
    service["state"] = json!("running");
    story
        .expect(200, "put", services, &service_at, &[], Some(service))
        .await;
    story
        .expect(200, "get", services, &service_at, &[], None)
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/services",
            &[("ws", ws)],
            &[],
            None,
        )
        .await;

    // A compute target attached, read, listed and detached.
    let target_at = [("ws", ws), ("name", "schema-hpc")];
    let targets = "/workspaces/{ws}/targets/{name}";
    story
        .expect(
            201,
            "put",
            targets,
            &target_at,
            &[],
            Some(
                json!({"kind": "slurm", "settings": {"partition": "debug", "sharedCache": false}}),
            ),
        )
        .await;
    story
        .expect(200, "get", targets, &target_at, &[], None)
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/targets",
            &[("ws", ws)],
            &[],
            None,
        )
        .await;
    story
        .expect(204, "delete", targets, &target_at, &[], None)
        .await;

    // Members and tokens.
    let member = unique("member");
    let member_at = [("ws", ws), ("user", member.as_str())];
    let members = "/workspaces/{ws}/members/{user}";
    story
        .expect(
            200,
            "put",
            members,
            &member_at,
            &[],
            Some(json!({"role": "reader"})),
        )
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/members",
            &[("ws", ws)],
            &[],
            None,
        )
        .await;
    let created = story
        .expect(
            201,
            "post",
            "/workspaces/{ws}/tokens",
            &[("ws", ws)],
            &[],
            Some(
                json!({"user": member, "role": "reader", "description": "for schemas",
                        "expiresAt": "2099-01-01T00:00:00Z"}),
            ),
        )
        .await;
    let id = created["record"]["id"].as_str().unwrap().to_string();
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/tokens",
            &[("ws", ws)],
            &[],
            None,
        )
        .await;
    story
        .expect(
            200,
            "delete",
            "/workspaces/{ws}/tokens/{id}",
            &[("ws", ws), ("id", &id)],
            &[],
            None,
        )
        .await;
    story
        .expect(204, "delete", members, &member_at, &[], None)
        .await;
    story
        .expect(
            200,
            "get",
            "/workspaces/{ws}/audit",
            &[("ws", ws)],
            &[],
            None,
        )
        .await;

    // An error answers the document's error schema.
    let (status, _) = story
        .call(
            "get",
            "/workspaces/{ws}/runs/{id}",
            &[("ws", ws), ("id", "no-such-run")],
            &[],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let uncovered: Vec<String> = ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .filter(|r| !story.covered.contains(r))
        .collect();
    assert!(
        uncovered.is_empty(),
        "routes the story missed: {uncovered:#?}"
    );
    assert!(
        story.failures.is_empty(),
        "bodies that do not match the document:\n{}",
        story.failures.join("\n")
    );
    story.server.stop().await;
}
