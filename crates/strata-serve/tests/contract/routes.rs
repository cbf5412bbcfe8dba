//! The azmlinfsrv contract (`reference/serving/CONTRACT.md`) row by row, and what the server adds
//! to it, for undecorated scripts.

use std::time::{Duration, Instant};

use serde_json::json;
use strata_serve::ServeError;
use tokio::net::TcpStream;

use crate::common::*;

/// A script for most rows: behaviour chosen by the body.
pub(crate) const PROBE: &str = r#"
import os
import time


def init():
    print("init called")


def run(raw_data, request_headers):
    if raw_data == "raise":
        raise ValueError("boom in run")
    if raw_data == "string":
        return '{"already": "json"}'
    if raw_data == "none":
        return None
    if raw_data == "object":
        return object()
    if raw_data == "print":
        print("hello from run")
        return "printed"
    if raw_data == "headers":
        return request_headers
    if raw_data == "pid":
        return os.getpid()
    if raw_data.startswith("sleep:"):
        time.sleep(float(raw_data[6:]))
        return "slept"
    if raw_data == "exit":
        os._exit(1)
    if raw_data == "alloc":
        block = b"x" * (300 << 20)
        time.sleep(3)
        return len(block)
    return {"data": raw_data}
"#;

const NOT_FOUND: &str = r#"{"message": "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."}"#;
const NOT_ALLOWED: &str = r#"{"message": "The method is not allowed for the requested URL."}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_routing_over_one_keep_alive_connection() {
    let app = App::new(PROBE);
    let server = Server::ready(app.config()).await;
    let mut client = Client::connect(server.addr).await.unwrap();

    let reply = client.send("GET", "/", &[], b"").await.unwrap();
    assert_eq!((reply.status, reply.text()), (200, "Healthy"));
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(reply.header("x-request-id").is_some());
    assert!(
        reply.header("connection").is_none(),
        "keep-alive by default"
    );

    let reply = client.send("HEAD", "/", &[], b"").await.unwrap();
    assert_eq!(
        (reply.status, reply.header("content-length")),
        (200, Some("7"))
    );

    for (method, path) in [("POST", "/"), ("PUT", "/"), ("DELETE", "/")] {
        let reply = client.send(method, path, &[], b"").await.unwrap();
        assert_eq!(
            (reply.status, reply.text()),
            (405, NOT_ALLOWED),
            "{method} {path}"
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("x-ms-run-function-failed"), Some("False"));
        // Flask's routing errors come without the request-id and version headers.
        assert!(reply.header("x-request-id").is_none());
        assert!(reply.header("x-ms-server-version").is_none());
    }
    for method in ["PUT", "PATCH", "DELETE"] {
        let reply = client.send(method, "/score", &[], b"").await.unwrap();
        assert_eq!((reply.status, reply.text()), (405, NOT_ALLOWED), "{method}");
    }
    // HEAD /score reaches azmlinfsrv's handler, which refuses it with request ids.
    let reply = client.send("HEAD", "/score", &[], b"").await.unwrap();
    assert_eq!(reply.status, 405);
    assert!(reply.header("x-request-id").is_some());

    let reply = client.send("OPTIONS", "/score", &[], b"").await.unwrap();
    assert_eq!((reply.status, reply.text()), (200, ""));
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let reply = client.send("OPTIONS", "/", &[], b"").await.unwrap();
    assert_eq!(
        (reply.status, reply.header("allow")),
        (200, Some("GET, HEAD, OPTIONS"))
    );

    for path in ["/score/", "/nope", "/swagger.json/", "/health"] {
        let reply = client.send("GET", path, &[], b"").await.unwrap();
        assert_eq!((reply.status, reply.text()), (404, NOT_FOUND), "{path}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }

    let reply = client.send("GET", "/health/live", &[], b"").await.unwrap();
    assert_eq!(reply.status, 200);
    let reply = client.send("GET", "/health/ready", &[], b"").await.unwrap();
    assert_eq!(
        reply.json(),
        json!({"status": "ready", "workers": 1, "ready": 1})
    );

    // Still the same connection, and scoring works on it too.
    let reply = client.send("POST", "/score", &[], b"abc").await.unwrap();
    assert_eq!((reply.status, reply.text()), (200, r#"{"data": "abc"}"#));
    let reply = client.send("POST", "/score", &[], b"def").await.unwrap();
    assert_eq!((reply.status, reply.text()), (200, r#"{"data": "def"}"#));
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn score_results_errors_and_logs() {
    let app = App::new(PROBE);
    let server = Server::ready(app.config()).await;
    let mut client = Client::connect(server.addr).await.unwrap();

    let reply = client
        .send(
            "POST",
            "/score",
            &[("Content-Type", "application/json")],
            br#"{"a": 1}"#,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), r#"{"data": "{\"a\": 1}"}"#);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("False"));
    let exec_ms = reply.header("x-ms-run-fn-exec-ms").unwrap();
    assert_eq!(exec_ms.split_once('.').unwrap().1.len(), 3, "{exec_ms}");
    assert_eq!(
        reply.header("x-ms-server-version"),
        Some(format!("strata/{}", strata_serve::VERSION).as_str())
    );
    // azmlinfsrv's header order.
    let names = reply.names();
    let position = |name: &str| names.iter().position(|found| found == name).unwrap();
    assert!(position("content-type") < position("x-ms-run-function-failed"));
    assert!(position("x-ms-run-function-failed") < position("x-ms-run-fn-exec-ms"));
    assert!(position("x-ms-run-fn-exec-ms") < position("x-ms-server-version"));
    assert!(position("x-ms-server-version") < position("x-request-id"));
    assert!(position("x-request-id") < position("x-ms-request-id"));

    // A str result is JSON-encoded again; None gives {}.
    let reply = client.send("POST", "/score", &[], b"string").await.unwrap();
    assert_eq!(
        (reply.status, reply.text()),
        (200, r#""{\"already\": \"json\"}""#)
    );
    let reply = client.send("POST", "/score", &[], b"none").await.unwrap();
    assert_eq!((reply.status, reply.text()), (200, "{}"));

    let reply = client.send("POST", "/score", &[], b"raise").await.unwrap();
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.text(),
        r#"{"message": "An unexpected error occurred in scoring script. Check the logs for more info."}"#
    );
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("True"));
    assert!(reply.header("x-ms-run-fn-exec-ms").is_none());

    let reply = client.send("POST", "/score", &[], b"object").await.unwrap();
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.text(),
        r#"{"message": "An unexpected internal error occurred. Check the logs for more info."}"#
    );
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("False"));

    let reply = client.send("POST", "/score", &[], b"\xff").await.unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.text(),
        r#"{"message": "Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"}"#
    );
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("False"));

    // Empty bodies and form bodies reach run() as sent (azmlinfsrv passes "" for forms).
    let reply = client.send("POST", "/score", &[], b"").await.unwrap();
    assert_eq!(reply.text(), r#"{"data": ""}"#);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let reply = client
        .send("POST", "/score", &form, b"a=1&b=2")
        .await
        .unwrap();
    assert_eq!(reply.text(), r#"{"data": "a=1&b=2"}"#);
    let reply = client
        .send("POST", "/score", &[], "\"é\"".as_bytes())
        .await
        .unwrap();
    assert_eq!(reply.text(), r#"{"data": "\"\u00e9\""}"#);

    let reply = client.send("POST", "/score", &[], b"print").await.unwrap();
    assert_eq!(reply.text(), r#""printed""#);

    let log = server.wait_log("hello from run").await;
    assert!(log.contains("init called"), "{log}");
    assert!(log.contains("ValueError: boom in run"), "{log}");
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    assert!(log.contains("is not JSON serializable"), "{log}");
    let log = server.wait_log("POST /score 200 ").await;
    assert!(log.contains(" I access - POST /score 500 "), "{log}");
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_query_becomes_a_json_object() {
    let app = App::new(PROBE);
    let server = Server::ready(app.config()).await;
    let mut client = Client::connect(server.addr).await.unwrap();
    let data = async |client: &mut Client, path: &str| {
        let reply = client.send("GET", path, &[], b"").await.unwrap();
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        reply.json()["data"].as_str().unwrap().to_string()
    };
    assert_eq!(data(&mut client, "/score").await, "{}");
    assert_eq!(data(&mut client, "/score?").await, "{}");
    assert_eq!(
        data(
            &mut client,
            "/score?a=1&b=%5B1%2C2%5D&c=x&d=null&a=2&e=&f=hello+world&g=0&h"
        )
        .await,
        r#"{"a": [1, 2], "b": [1, 2], "c": "x", "d": null, "e": "", "f": "hello world", "g": 0, "h": ""}"#
    );
    assert_eq!(
        data(&mut client, "/score?data=%5B%5B1.5%2C2%5D%5D&k=%C3%A9").await,
        r#"{"data": [[1.5, 2]], "k": "\u00e9"}"#
    );
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_reach_run_title_cased() {
    let app = App::new(PROBE);
    let server = Server::ready(app.config()).await;
    let reply = request(
        server.addr,
        "POST",
        "/score",
        &[
            ("x-ms-request-id", "legacy-1"),
            ("X-Custom", "a"),
            ("x-custom", "b"),
        ],
        b"headers",
    )
    .await
    .unwrap();
    let headers = reply.json();
    assert_eq!(headers["Host"], "test");
    assert_eq!(headers["X-Ms-Request-Id"], "legacy-1");
    assert_eq!(headers["X-Custom"], "a,b");
    assert_eq!(headers["Content-Length"], "7");

    // A run() without `request_headers` is called with the data alone.
    let plain = App::new("def init():\n    pass\n\n\ndef run(data):\n    return data[::-1]\n");
    let other = Server::ready(plain.config()).await;
    assert_eq!(other.post("abc").await.text(), r#""cba""#);
    other.stop().await.0.unwrap();
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_headers_follow_azmlinfsrv() {
    let app = App::new(PROBE);
    let server = Server::ready(app.config()).await;
    let mut client = Client::connect(server.addr).await.unwrap();
    let mut ids = async |headers: &[(&str, &str)]| {
        let reply = client.send("POST", "/score", headers, b"x").await.unwrap();
        let get = |name: &str| reply.header(name).map(str::to_string);
        (
            reply.status,
            get("x-request-id"),
            get("x-ms-request-id"),
            get("x-ms-client-request-id"),
            get("traceid"),
        )
    };
    let some = |text: &str| Some(text.to_string());

    let (status, request_id, legacy, client_id, _) = ids(&[]).await;
    let request_id = request_id.unwrap();
    assert_eq!(
        (status, request_id.len(), &request_id[14..15]),
        (200, 36, "4")
    );
    assert_eq!((legacy, client_id), (Some(request_id), None));

    assert_eq!(
        ids(&[("x-request-id", "r1"), ("TraceId", "t1")]).await,
        (200, some("r1"), some("r1"), None, some("t1"))
    );
    assert_eq!(
        ids(&[("x-request-id", "r2"), ("x-ms-client-request-id", "c2")]).await,
        (200, some("r2"), some("c2"), some("c2"), None)
    );
    assert_eq!(
        ids(&[("x-request-id", "r3"), ("x-ms-request-id", "l3")]).await,
        (200, some("r3"), some("l3"), some("l3"), None)
    );
    assert_eq!(
        ids(&[
            ("x-request-id", "r4"),
            ("x-ms-request-id", "l4"),
            ("x-ms-client-request-id", "c4")
        ])
        .await,
        (200, some("r4"), some("l4"), some("c4"), None)
    );

    let long = "x".repeat(101);
    for (header, message, request_id) in [
        (
            "x-request-id",
            "x-request-id must not exceed 100 characters",
            None,
        ),
        (
            "x-ms-request-id",
            "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters",
            some("r"),
        ),
        (
            "x-ms-client-request-id",
            "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters",
            some("r"),
        ),
    ] {
        let headers = [("x-request-id", "r"), (header, long.as_str())];
        let headers = if header == "x-request-id" {
            &headers[1..]
        } else {
            &headers[..]
        };
        let reply = request(server.addr, "POST", "/score", headers, b"x")
            .await
            .unwrap();
        assert_eq!(reply.status, 431, "{header}");
        assert_eq!(reply.json(), json!({"message": message}));
        assert_eq!(
            reply.header("x-request-id").map(str::to_string),
            request_id,
            "{header}"
        );
        assert!(reply.header("x-ms-request-id").is_none());
    }
    // The liveness route checks them too, as azmlinfsrv's before-request hook does.
    let reply = request(server.addr, "GET", "/", &[("x-request-id", &long)], b"")
        .await
        .unwrap();
    assert_eq!(reply.status, 431);
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_documents_by_version() {
    let app = App::new(PROBE);
    let server = Server::ready(app.config()).await;
    let mut client = Client::connect(server.addr).await.unwrap();
    for (query, key, version) in [
        ("", "swagger", "2.0"),
        ("?version=2", "swagger", "2.0"),
        ("?version=2.0", "swagger", "2.0"),
        ("?version=3", "openapi", "3.0.3"),
        ("?version=3.0", "openapi", "3.0.3"),
        ("?version=3.1", "openapi", "3.1.0"),
    ] {
        let path = format!("/swagger.json{query}");
        let reply = client.send("GET", &path, &[], b"").await.unwrap();
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let document = reply.json();
        assert_eq!(document[key], version, "{path}");
        let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
        assert_eq!(paths, ["/", "/score", "/swagger.json"]);
    }
    let reply = client.send("GET", "/swagger.json", &[], b"").await.unwrap();
    assert!(
        reply
            .text()
            .starts_with(r#"{"swagger": "2.0", "info": {"title": "ML service", "#)
    );
    assert_eq!(
        reply.json()["definitions"]["ServiceInput"],
        json!({"type": "object", "example": {}})
    );
    let reply = client
        .send("GET", "/swagger.json?version=4", &[], b"")
        .await
        .unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.text(),
        r#"{"message": "Swagger version [4] is not valid. Supported versions: [2, 3, 3.1]."}"#
    );
    server.stop().await.0.unwrap();

    // A swagger.json in the app root replaces version 2.
    let app = App::new(PROBE);
    fs_err::write(
        app.path().join("swagger.json"),
        r#"{"swagger":"2.0","x":[1,2.5]}"#,
    )
    .unwrap();
    let server = Server::ready(app.config()).await;
    let reply = request(server.addr, "GET", "/swagger.json", &[], b"")
        .await
        .unwrap();
    assert_eq!(reply.text(), r#"{"swagger": "2.0", "x": [1, 2.5]}"#);
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_dir_and_strata_model_path() {
    let app = App::new(
        r#"
import os
from strata import Model

model = None


def init():
    global model
    path = Model.get_model_path("iris")
    with open(path) as f:
        model = {"path": path, "content": f.read(), "dir": os.environ["AZUREML_MODEL_DIR"]}


def run(raw_data):
    return model
"#,
    );
    let models = app.path().join("azureml-models");
    fs_err::create_dir_all(models.join("iris/1")).unwrap();
    fs_err::create_dir_all(models.join("iris/2")).unwrap();
    fs_err::write(models.join("iris/1/model.txt"), "old").unwrap();
    fs_err::write(models.join("iris/2/model.pkl"), "weights").unwrap();
    let mut config = app.config();
    config.model_dir = Some(models.clone());
    let server = Server::ready(config).await;
    let reply = server.post("").await;
    assert_eq!(reply.status, 200, "{}", server.log_text());
    let found = reply.json();
    assert_eq!(found["content"], "weights");
    assert_eq!(
        found["path"],
        models.join("iris/2/model.pkl").to_str().unwrap()
    );
    assert_eq!(found["dir"], models.to_str().unwrap());
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_script_in_a_source_directory() {
    let app = App::new("");
    fs_err::create_dir_all(app.path().join("src")).unwrap();
    fs_err::write(app.path().join("src/helper.py"), "GREETING = 'hi'\n").unwrap();
    fs_err::write(
        app.path().join("src/score.py"),
        "import os\nimport helper\n\n\ndef init():\n    pass\n\n\ndef run(data):\n    return [helper.GREETING, os.getcwd(), os.environ['AZUREML_SOURCE_DIRECTORY']]\n",
    )
    .unwrap();
    let mut config = app.config();
    config.entry_script = "src/score.py".into();
    config.source_directory = Some("src".into());
    let server = Server::ready(config).await;
    let reply = server.post("").await;
    let cwd = std::fs::canonicalize(app.path()).unwrap();
    assert_eq!(reply.json(), json!(["hi", cwd.to_str().unwrap(), "src"]));
    server.stop().await.0.unwrap();
}

/// The driver script the Azure ML SDK generates (`fixtures/inference/generated_driver_main.py`):
/// its `driver_module.run` is called directly, its own `init()` once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_ml_generated_driver_script() {
    let app = App::new(
        r#"
import os
import inspect
import importlib.util as imp
import sys
sys.path.append(os.path.join(os.path.dirname(os.path.realpath(__file__)), 'src'))

script_location = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'src/score.py')
driver_module_spec = imp.spec_from_file_location('service_driver', script_location)
driver_module = imp.module_from_spec(driver_module_spec)
driver_module_spec.loader.exec_module(driver_module)

def run(http_body, request_headers):
    return "the driver's run() is not called"

def init():
    print("driver init")
    driver_module.init()
"#,
    );
    fs_err::create_dir_all(app.path().join("src")).unwrap();
    fs_err::write(
        app.path().join("src/score.py"),
        "def init():\n    print('score init')\n\n\ndef run(data, request_headers):\n    return {\"echo\": data, \"trace\": request_headers.get(\"X-Ms-Request-Id\")}\n",
    )
    .unwrap();
    let server = Server::ready(app.config()).await;
    let reply = request(
        server.addr,
        "POST",
        "/score",
        &[("x-ms-request-id", "abc")],
        b"[1]",
    )
    .await
    .unwrap();
    assert_eq!(reply.text(), r#"{"echo": "[1]", "trace": "abc"}"#);
    let log = server.wait_log("score init").await;
    assert!(log.contains("driver init"), "{log}");
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_only_after_init() {
    let app = App::new(
        "import time\n\n\ndef init():\n    time.sleep(1.5)\n\n\ndef run(data):\n    return 'ok'\n",
    );
    let server = Server::start(app.config()).await;
    let live = async || {
        loop {
            if let Ok(reply) = request(server.addr, "GET", "/health/live", &[], b"").await {
                return reply;
            }
        }
    };
    assert_eq!(live().await.status, 200);
    let reply = request(server.addr, "GET", "/health/ready", &[], b"")
        .await
        .unwrap();
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["status"], "starting");
    // A request sent now waits for init().
    let reply = server.post("x").await;
    assert_eq!((reply.status, reply.text()), (200, r#""ok""#));
    let reply = request(server.addr, "GET", "/health/ready", &[], b"")
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_raising_fails_the_server() {
    let app = App::new(
        "def init():\n    raise RuntimeError('boom in init')\n\n\ndef run(data):\n    return data\n",
    );
    let server = Server::start(app.config()).await;
    let result = tokio::time::timeout(Duration::from_secs(20), server.task)
        .await
        .unwrap()
        .unwrap();
    let Err(ServeError::InitFailed { traceback }) = result else {
        panic!("expected InitFailed, got {result:?}");
    };
    assert!(
        traceback.contains("Traceback (most recent call last)"),
        "{traceback}"
    );
    assert!(
        traceback.contains("RuntimeError: boom in init"),
        "{traceback}"
    );
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("RuntimeError: boom in init"), "{log}");

    // A script without run() fails the same way, as azmlinfsrv does.
    let app = App::new("def init():\n    pass\n");
    let server = Server::start(app.config()).await;
    let result = server.task.await.unwrap();
    assert!(
        matches!(&result, Err(ServeError::InitFailed { traceback }) if traceback.contains("does not have a run() function defined")),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let app = App::new(PROBE);
    let server = Server::ready(app.config()).await;
    let addr = server.addr;
    let slow = tokio::spawn(async move { request(addr, "POST", "/score", &[], b"sleep:1").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (result, log) = server.stop().await;
    result.unwrap();
    let reply = slow.await.unwrap().unwrap();
    assert_eq!((reply.status, reply.text()), (200, r#""slept""#));
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains(" - stopped"), "{log}");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_imports_the_changed_script() {
    let app = App::new("def init():\n    pass\n\n\ndef run(data):\n    return 'v1'\n");
    let mut config = app.config();
    config.workers = 2;
    let server = Server::ready(config).await;
    assert_eq!(server.post("").await.text(), r#""v1""#);

    fs_err::write(
        app.path().join("score.py"),
        "def init():\n    pass\n\n\ndef run(data, request_headers):\n    return 'v2'\n",
    )
    .unwrap();
    server.reload.notify_one();
    server.wait_log("reloaded").await;
    for _ in 0..4 {
        let reply = server.post("").await;
        assert_eq!((reply.status, reply.text()), (200, r#""v2""#));
    }

    // A broken script leaves the old workers serving.
    fs_err::write(app.path().join("score.py"), "def init(:\n").unwrap();
    server.reload.notify_one();
    server.wait_log("reload stopped").await;
    assert_eq!(server.post("").await.text(), r#""v2""#);
    let (result, log) = server.stop().await;
    result.unwrap();
    assert!(log.contains("SyntaxError"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::print_stderr, reason = "reports the rate with --nocapture")]
async fn keep_alive_throughput_sanity() {
    let app = App::new("def init():\n    pass\n\n\ndef run(raw_data):\n    return len(raw_data)\n");
    let mut config = app.config();
    config.workers = 2;
    let server = Server::ready(config).await;
    let body = br#"{"data": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]]}"#;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let addr = server.addr;
        clients.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await.unwrap();
            for _ in 0..500 {
                let reply = client.send("POST", "/score", &[], body).await.unwrap();
                assert_eq!(reply.status, 200);
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let elapsed = started.elapsed();
    let rate = 2000.0 / elapsed.as_secs_f64();
    eprintln!("2000 keep-alive requests over 4 connections in {elapsed:?}: {rate:.0} req/s");
    assert!(rate > 500.0, "{rate:.0} req/s");
    server.stop().await.0.unwrap();
}
