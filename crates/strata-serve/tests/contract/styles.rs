//! Every style of Azure ML scoring script against the real server: inference-schema decorators
//! (numpy, pandas and standard types), `@rawhttp` with `AMLRequest`/`AMLResponse`, and streamed
//! answers.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;

/// A linear model behind inference-schema decorators of the three parameter types.
const SCHEMA_SCRIPT: &str = r#"
import numpy as np
import pandas as pd
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    global weights
    weights = np.array([0.5, -1.0, 2.0])


@input_schema("features", NumpyParameterType(np.array([[1.0, 2.0, 3.0]])))
@input_schema("frame", PandasParameterType(pd.DataFrame({"a": [1.0], "b": [2.0]})))
@input_schema("options", StandardPythonParameterType({"scale": 1.5, "label": "x"}))
@output_schema(StandardPythonParameterType({"scores": [1.0], "totals": [1.0], "label": "x"}))
def run(features, frame, options, request_headers):
    if options["label"] == "raise":
        raise ValueError("boom in run")
    return {
        "scores": (features @ weights * options["scale"]).tolist(),
        "totals": frame.sum(axis=1).tolist(),
        "label": options["label"],
        "types": [type(features).__name__, type(frame).__name__, type(options).__name__],
        "agent": request_headers.get("User-Agent"),
    }
"#;

/// What the script computes and declares, in-process: the undecorated `run()` on numpy and
/// pandas values built here, and the decorators' schemas.
const IN_PROCESS: &str = r#"
import importlib.util, json, sys
import numpy as np
import pandas as pd
from inference_schema import schema_util

spec = importlib.util.spec_from_file_location("score", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.init()
body = json.loads(sys.argv[2])
base = schema_util._get_decorators(module.run)[-1]
answer = base(np.array(body["features"]), pd.DataFrame(body["frame"]), body["options"], {"User-Agent": "probe"})
print(json.dumps({
    "answer": answer,
    "input": schema_util.get_input_schema(module.run),
    "output": schema_util.get_output_schema(module.run),
}))
"#;

fn in_process(script: &Path, body: &Value) -> Value {
    let output = std::process::Command::new(serving_python())
        .args(["-c", IN_PROCESS])
        .arg(script)
        .arg(body.to_string())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_schema_numpy_pandas_and_standard_types() {
    let app = App::new(SCHEMA_SCRIPT);
    let server = Server::ready(app.serving_config()).await;
    let mut client = Client::connect(server.addr).await.unwrap();
    let body = json!({
        "features": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5], [-1.0, 0.0, 0.25]],
        "frame": [{"a": 1.0, "b": 2.0}, {"a": 3.5, "b": -4.0}],
        "options": {"scale": 2.0, "label": "y"}
    });
    let expected = in_process(&app.path().join("score.py"), &body);
    let reply = client
        .send(
            "POST",
            "/score",
            &[JSON, ("User-Agent", "probe")],
            body.to_string().as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), expected["answer"]);
    assert_eq!(
        reply.json()["types"],
        json!(["ndarray", "DataFrame", "dict"]),
        "the decorators converted each parameter"
    );
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("False"));
    assert!(reply.header("x-ms-run-fn-exec-ms").is_some());

    // GET: the query parameters are the members, parsed as JSON.
    let query = "/score?features=%5B%5B1%2C2%2C3%5D%5D&frame=%5B%7B%22a%22%3A1%2C%22b%22%3A2%7D%5D&options=%7B%22scale%22%3A1%2C%22label%22%3A%22q%22%7D";
    let reply = client
        .send("GET", query, &[("User-Agent", "probe")], b"")
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["scores"], json!([4.5]));
    assert_eq!(reply.json()["totals"], json!([3.0]));

    // What the decorators refuse is the client's error, with their message.
    let mut wrong_shape = body.clone();
    wrong_shape["features"] = json!([[1.0, 2.0]]);
    let reply = client
        .send(
            "POST",
            "/score",
            &[JSON],
            wrong_shape.to_string().as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"message": "Invalid input array: array has size 2 on dimension #1, while expected value is 3"})
    );
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("False"));
    let mut wrong_type = body.clone();
    wrong_type["options"] = json!([1]);
    let reply = client
        .send("POST", "/score", &[JSON], wrong_type.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.json()["message"].as_str().unwrap()),
        (
            400,
            "Invalid input data type to parse. Expected: <class 'dict'> but got <class 'list'>"
        )
    );

    // azmlinfsrv's checks of the body itself.
    let missing = json!({"features": [[1, 2, 3]], "frame": [{"a": 1, "b": 2}]});
    for (headers, payload, status, message) in [
        (
            vec![JSON],
            missing.to_string(),
            400,
            "A value is not provided for the 'options' parameter.",
        ),
        (
            vec![("Content-Type", "text/plain")],
            body.to_string(),
            415,
            "Expects Content-Type to be application/json",
        ),
        (
            vec![JSON],
            "[1, 2]".to_string(),
            400,
            "POST body should be a JSON dictionary.",
        ),
        (
            vec![JSON],
            String::new(),
            400,
            "POST body is empty. Expecting a JSON dictionary.",
        ),
    ] {
        let reply = client
            .send("POST", "/score", &headers, payload.as_bytes())
            .await
            .unwrap();
        assert_eq!(
            (reply.status, reply.json()["message"].as_str().unwrap()),
            (status, message),
            "{payload}"
        );
    }
    let reply = client
        .send("POST", "/score", &[JSON], b"{not json")
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("POST body could not be decoded as JSON: "),
        "{}",
        reply.text()
    );

    // An error of run() itself stays the script's failure.
    let mut raising = body.clone();
    raising["options"]["label"] = json!("raise");
    let reply = client
        .send("POST", "/score", &[JSON], raising.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(reply.status, 500);
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("True"));
    server.wait_log("ValueError: boom in run").await;

    // The swagger documents carry the decorators' schemas, examples included.
    for (query, path) in [
        ("", "/definitions"),
        ("?version=3", "/components/schemas"),
        ("?version=3.1", "/components/schemas"),
    ] {
        let reply = client
            .send("GET", &format!("/swagger.json{query}"), &[], b"")
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
        let schemas = reply.json().pointer(path).unwrap().clone();
        assert_eq!(schemas["ServiceInput"], expected["input"], "{query}");
        assert_eq!(schemas["ServiceOutput"], expected["output"], "{query}");
        assert_eq!(
            schemas["ServiceInput"]["example"]["options"],
            json!({"scale": 1.5, "label": "x"})
        );
    }
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_files_in_the_app_root_are_served_as_they_are() {
    let two = r#"{"swagger": "2.0", "info": {"title": "mine", "version": "7"}, "paths": {}}"#;
    let three =
        r#"{"openapi":"3.0.1","info":{"title":"mine too"},"x-order":{"z":1,"a":[1,2.5,null]}}"#;
    let app = App::with_files(
        SCHEMA_SCRIPT,
        &[
            ("swagger2.json", two.as_bytes()),
            ("swagger3.json", three.as_bytes()),
        ],
    );
    let server = Server::ready(app.serving_config()).await;
    let reply = request(server.addr, "GET", "/swagger.json", &[], b"")
        .await
        .unwrap();
    assert_eq!(reply.text(), two);
    let reply = request(server.addr, "GET", "/swagger.json?version=3", &[], b"")
        .await
        .unwrap();
    assert_eq!(
        reply.text(),
        r#"{"openapi": "3.0.1", "info": {"title": "mine too"}, "x-order": {"z": 1, "a": [1, 2.5, null]}}"#
    );
    // Without a file of its own, 3.1 is generated from the decorators.
    let reply = request(server.addr, "GET", "/swagger.json?version=3.1", &[], b"")
        .await
        .unwrap();
    assert_eq!(reply.json()["openapi"], "3.1.0");
    assert_eq!(
        reply.json()["components"]["schemas"]["ServiceInput"]["properties"]["features"]["format"],
        "numpy.ndarray"
    );
    server.stop().await.0.unwrap();
}

/// A `@rawhttp` script as Azure's samples write them.
const RAW_SCRIPT: &str = r#"
import hashlib
import os

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    global image
    with open(os.path.join(os.path.dirname(__file__), "pixel.png"), "rb") as f:
        image = f.read()


@rawhttp
def run(request: AMLRequest):
    if request.method == "GET":
        if request.args.get("image"):
            return AMLResponse(image, 200, {"Content-Type": "image/png", "X-Tags": "a, b"})
        return {
            "method": request.method,
            "args": request.args.to_dict(flat=False),
            "url": request.url,
            "path": request.path,
            "full_path": request.full_path,
            "agent": request.headers.get("user-agent"),
            "names": sorted(dict(request.headers)),
        }
    if request.method != "POST":
        return AMLResponse("", 200, {"X-Method": request.method})
    if request.mimetype == "multipart/form-data":
        return {
            "files": [
                {
                    "filename": f.filename,
                    "field": f.name,
                    "type": f.content_type,
                    "sha256": hashlib.sha256(f.stream.read()).hexdigest(),
                }
                for f in request.files.getlist("files")
            ],
            "form": request.form.to_dict(),
        }
    status = request.headers.get("X-Status")
    if status:
        return AMLResponse({"error": "as asked"}, int(status), json_str=True)
    return {"json": request.json, "data": request.get_data(as_text=True), "length": len(request.get_data())}
"#;

/// Bytes that must arrive unchanged: a PNG signature and every byte value.
fn picture() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..=255u8).cycle().take(4096));
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    let output = std::process::Command::new(python())
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rawhttp_requests_and_responses() {
    // The machine's python3, without any azureml package: the modules come from the worker.
    let app = App::with_files(RAW_SCRIPT, &[("pixel.png", &picture())]);
    let server = Server::ready(app.config()).await;
    let mut client = Client::connect(server.addr).await.unwrap();

    // GET reaches a raw run(), with the query and the URL.
    let reply = client
        .send(
            "GET",
            "/score?a=1&a=2&name=caf%C3%A9",
            &[("User-Agent", "probe/1")],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "method": "GET",
            "args": {"a": ["1", "2"], "name": ["café"]},
            "url": "http://test/score?a=1&a=2&name=caf%C3%A9",
            "path": "/score",
            "full_path": "/score?a=1&a=2&name=caf%C3%A9",
            "agent": "probe/1",
            "names": ["Host", "User-Agent"]
        })
    );

    // An image answer: status, mimetype, headers and bytes as run() made them.
    let reply = client
        .send("GET", "/score?image=1", &[], b"")
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("image/png"));
    assert_eq!(reply.body, picture());
    let tags: Vec<&str> = reply
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("x-tags"))
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(tags, ["a", "b"], "commas split into repeated headers");
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("False"));
    assert!(reply.header("x-ms-run-fn-exec-ms").is_some());
    assert!(reply.header("x-request-id").is_some());

    // Two files and a field in one multipart body.
    let first = picture();
    let second = b"line 1\r\nline 2\r\n--not-a-boundary\r\n".to_vec();
    let boundary = "strataBoundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, kind, data) in [
        ("a.png", "image/png", &first),
        ("notes.txt", "text/plain", &second),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: {kind}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\ncaf\u{e9}\r\n--{boundary}--\r\n").as_bytes(),
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let reply = client
        .send("POST", "/score", &[("Content-Type", &content_type)], &body)
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "files": [
                {"filename": "a.png", "field": "files", "type": "image/png", "sha256": sha256_hex(&first)},
                {"filename": "notes.txt", "field": "files", "type": "text/plain", "sha256": sha256_hex(&second)}
            ],
            "form": {"note": "café"}
        })
    );

    // JSON and raw bodies; a status of run()'s choosing.
    let reply = client
        .send("POST", "/score", &[JSON], br#"{"x": [1, 2]}"#)
        .await
        .unwrap();
    assert_eq!(
        reply.json(),
        json!({"json": {"x": [1, 2]}, "data": "{\"x\": [1, 2]}", "length": 13})
    );
    let reply = client
        .send("POST", "/score", &[("X-Status", "418")], b"")
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.text()),
        (418, r#"{"error": "as asked"}"#)
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("False"));
    let reply = client
        .send("POST", "/score", &[("X-Status", "503")], b"")
        .await
        .unwrap();
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("True"));

    // HEAD and OPTIONS reach a raw run() too, as in azmlinfsrv.
    let reply = client.send("OPTIONS", "/score", &[], b"").await.unwrap();
    assert_eq!(
        (reply.status, reply.header("x-method")),
        (200, Some("OPTIONS"))
    );
    let reply = client.send("HEAD", "/score", &[], b"").await.unwrap();
    assert_eq!(reply.status, 200);
    let reply = client.send("PUT", "/score", &[], b"").await.unwrap();
    assert_eq!(reply.status, 405);

    // Over the body limit, a multipart body is refused before run() sees it.
    server.stop().await.0.unwrap();
    let mut config = app.config();
    config.max_body_bytes = 1000;
    let server = Server::ready(config).await;
    let reply = request(
        server.addr,
        "POST",
        "/score",
        &[("Content-Type", &content_type)],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 413);
    server.stop().await.0.unwrap();
}

/// Streams chunk by chunk: after the first chunk it waits for a file the test creates.
const STREAM_SCRIPT: &str = r#"
import json
import os
import time

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


def generate(items, marker):
    for index, item in enumerate(items):
        if index == 1:
            while not os.path.exists(marker):
                time.sleep(0.01)
        yield "item: " + str(item) + "\n\n"


def forever():
    while True:
        yield "tick\n"
        time.sleep(0.05)


@rawhttp
def run(request: AMLRequest):
    body = request.json
    if body.get("forever"):
        return AMLResponse(forever(), 200, {"Content-Type": "text/event-stream"})
    if body.get("bare"):
        return (str(n) for n in range(3))
    return AMLResponse(generate(body["items"], body["marker"]), 200)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generators_are_streamed_chunk_by_chunk() {
    let app = App::new(STREAM_SCRIPT);
    let mut config = app.config();
    config.request_timeout = std::time::Duration::from_secs(3);
    let server = Server::ready(config).await;
    let marker = app.path().join("go-on");
    let body = json!({"items": ["a", "b", "c"], "marker": marker});
    let mut client = Client::connect(server.addr).await.unwrap();
    let reply = client
        .send_head("POST", "/score", &[JSON], body.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(reply.header("content-length").is_none());
    // The first chunk arrives while run()'s generator still waits for the marker.
    let first = client.next_chunk().await.unwrap().unwrap();
    assert_eq!(first, b"item: a\n\n");
    fs_err::write(&marker, "").unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = client.next_chunk().await.unwrap() {
        rest.push(String::from_utf8(chunk).unwrap());
    }
    assert_eq!(rest, ["item: b\n\n", "item: c\n\n"]);
    server.wait_log("POST /score 200 ").await;
    assert!(
        server.log_text().contains("ms N/A"),
        "a streamed answer's length is logged as N/A: {}",
        server.log_text()
    );

    // A bare generator is streamed as well; the connection stays usable.
    let reply = client
        .send("POST", "/score", &[JSON], br#"{"bare": true}"#)
        .await
        .unwrap();
    assert_eq!((reply.status, reply.text()), (200, "012"));

    // The timeout covers the whole stream: a stream that never ends is cut off and its worker
    // replaced.
    let mut streaming = Client::connect(server.addr).await.unwrap();
    let reply = streaming
        .send_head("POST", "/score", &[JSON], br#"{"forever": true}"#)
        .await
        .unwrap();
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let mut ticks = 0;
    let cut = loop {
        match streaming.next_chunk().await {
            Ok(Some(chunk)) => {
                assert_eq!(chunk, b"tick\n");
                ticks += 1;
            }
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(cut, "the stream ends without its last chunk");
    assert!(ticks > 1, "{ticks}");
    server
        .wait_log("killed (killed by signal 9): run() took longer than 3000 ms")
        .await;
    server.wait_ready().await;
    let reply = client
        .send("POST", "/score", &[JSON], br#"{"bare": true}"#)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    server.stop().await.0.unwrap();
}
