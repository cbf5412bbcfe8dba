//! azmlinfsrv's settings through `strata deploy`: its environment variables (a flag wins over
//! its variable), entry scripts that are any `.py` file, and the rotated service log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::TestContext;
use crate::serve::free_port;

const SCORE: &str = r#"
import os
import time


def init():
    global greeting
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "greeting.txt")) as f:
        greeting = f.read().strip()


def run(raw_data):
    if raw_data.startswith("sleep"):
        time.sleep(3)
    if raw_data == "noisy":
        for _ in range(3000):
            print("n" * 16000)
    return {"greeting": greeting, "pid": os.getpid()}
"#;

/// One request; the status line and headers (lower-cased names) and the body.
fn exchange(port: u16, request: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn post(port: u16, body: &str, extra: &str) -> (u16, Vec<(String, String)>, String) {
    exchange(
        port,
        &format!(
            "POST /score HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        ),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[test]
fn azureml_settings_from_the_environment() {
    let context = TestContext::new();
    context.write("models/v1/greeting.txt", "hello");
    context.write("score-numpy.py", SCORE);
    let port = free_port();
    let health_port = free_port();
    let output = context.output(
        context
            .command()
            .args([
                "deploy",
                "envsvc",
                "--env",
                "Strata-Minimal",
                "--port",
                &port.to_string(),
            ])
            .env("AZUREML_ENTRY_SCRIPT", "score-numpy.py")
            .env("AZUREML_MODEL_DIR", "models/v1")
            .env("WORKER_COUNT", "2")
            .env("WORKER_TIMEOUT", "1")
            .env("SERVER_VERSION_LOG_RESPONSE_ENABLED", "false")
            .env("AML_CORS_ORIGINS", "https://a.example, https://b.example")
            .env("SEPERATE_HEALTH_ENDPOINT", "true")
            .env("HEALTH_PORT", health_port.to_string()),
    );
    assert_eq!(output.code, 0, "{output}");

    let (status, headers, body) = post(port, "x", "Origin: https://b.example\r\n");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with(r#"{"greeting": "hello", "pid": "#),
        "{body}"
    );
    assert_eq!(header(&headers, "x-ms-server-version"), None);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://b.example")
    );
    let show = context.json(&["service", "show", "envsvc", "--json"]);
    assert_eq!(show["service"]["config"]["workers"], 2);
    assert_eq!(show["service"]["config"]["timeoutMs"], 1000);
    assert!(
        show["service"]["entryScript"]
            .as_str()
            .unwrap()
            .ends_with("score-numpy.py")
    );
    // WORKER_TIMEOUT is the request timeout, in seconds.
    let (status, _, body) = post(port, "sleep", "");
    assert_eq!(
        (status, body.as_str()),
        (504, r#"{"message": "Scoring timeout after 1000 ms"}"#)
    );
    // The health port serves the probes.
    let (status, _, body) = exchange(
        health_port,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((status, body.as_str()), (200, "Healthy"));
    context.ok(&["service", "delete", "envsvc"]);

    // A flag wins over its variable.
    let port = free_port();
    let output = context.output(
        context
            .command()
            .args([
                "deploy",
                "flagsvc",
                "--env",
                "Strata-Minimal",
                "--port",
                &port.to_string(),
                "--entry-script",
                "score-numpy.py",
                "--model-dir",
                "models/v1",
                "--workers",
                "1",
            ])
            .env("WORKER_COUNT", "3")
            .env("SERVER_VERSION_LOG_RESPONSE_ENABLED", "true"),
    );
    assert_eq!(output.code, 0, "{output}");
    let show = context.json(&["service", "show", "flagsvc", "--json"]);
    assert_eq!(show["service"]["config"]["workers"], 1);
    let (_, headers, _) = post(port, "x", "");
    assert!(
        header(&headers, "x-ms-server-version").is_some_and(|value| value.starts_with("strata/"))
    );

    // The service log is rotated past its cap: a noisy run() cannot fill the disk.
    let (status, _, _) = post(port, "noisy", "");
    assert_eq!(status, 200);
    let dir = context.path().join(".strata/services/flagsvc");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !dir.join("service.log.1").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the log was not rotated"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let current = fs_err::metadata(dir.join("service.log")).unwrap().len();
    let rotated = fs_err::metadata(dir.join("service.log.1")).unwrap().len();
    assert!(current <= 16 << 20, "{current}");
    assert!(rotated <= 16 << 20 && rotated > 15 << 20, "{rotated}");
    let logs = context.ok(&["service", "logs", "flagsvc"]);
    assert!(
        logs.contains("init() done"),
        "the rotated part is shown too"
    );
    context.ok(&["service", "delete", "flagsvc"]);
}
