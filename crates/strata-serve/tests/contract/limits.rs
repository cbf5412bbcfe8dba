//! What the server adds to azmlinfsrv's contract when a request costs too much: a body limit
//! (413), a bounded queue (503), a timeout (504), a dying worker (502) and a memory limit (503),
//! each costing only its own request.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;
use crate::routes::PROBE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_the_limit_gets_413() {
    let app = App::new(PROBE);
    let mut config = app.config();
    config.max_body_bytes = 1024;
    let server = Server::ready(config).await;
    let reply = server.post(&"x".repeat(1024)).await;
    assert_eq!(reply.status, 200);
    let reply = server.post(&"x".repeat(1025)).await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.json(),
        json!({"message": "The request body is larger than the limit of 1024 bytes."})
    );
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_gets_503() {
    let app = App::new(PROBE);
    let mut config = app.config();
    config.queue_capacity = 1;
    let server = Server::ready(config).await;
    let addr = server.addr;
    let busy =
        tokio::spawn(async move { request(addr, "POST", "/score", &[], b"sleep:1.5").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = tokio::spawn(async move { request(addr, "POST", "/score", &[], b"w").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply = server.post("refused").await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.json(),
        json!({"message": "The server is busy: too many requests are waiting. Try again later."})
    );
    assert_eq!(busy.await.unwrap().unwrap().status, 200);
    assert_eq!(waiting.await.unwrap().unwrap().text(), r#"{"data": "w"}"#);
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_replaces_only_the_stuck_worker() {
    let app = App::new(PROBE);
    let mut config = app.config();
    config.workers = 2;
    config.request_timeout = Duration::from_millis(1500);
    let server = Server::ready(config).await;
    let addr = server.addr;
    let sent = Instant::now();
    let stuck =
        tokio::spawn(async move { request(addr, "POST", "/score", &[], b"sleep:60").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The other worker answers meanwhile.
    let reply = server.post("pid").await;
    assert_eq!(reply.status, 200);
    let survivor = reply.text().to_string();

    let reply = stuck.await.unwrap().unwrap();
    let elapsed = sent.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    assert_eq!(reply.status, 504);
    assert_eq!(
        reply.json(),
        json!({"message": "Scoring timeout after 1500 ms"})
    );
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("True"));

    server.wait_log("run() took longer than 1500 ms").await;
    server.wait_ready().await;
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let reply = server.post("pid").await;
        assert_eq!(reply.status, 200);
        pids.insert(reply.text().to_string());
    }
    // The survivor kept its process; the stuck one was replaced by a new one.
    assert!(pids.contains(&survivor) && pids.len() == 2, "{pids:?}");
    let (result, log) = server.stop().await;
    result.unwrap();
    assert_eq!(log.matches("killed (").count(), 1, "{log}");
    assert_eq!(log.matches(" - started").count(), 3, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dying_worker_costs_only_its_request() {
    let app = App::new(PROBE);
    let server = Server::ready(app.config()).await;
    let reply = server.post("exit").await;
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.json(),
        json!({"message": "The scoring worker exited while handling the request. Check the logs for more info."})
    );
    assert_eq!(reply.header("x-ms-run-function-failed"), Some("True"));
    // The next request waits for the replacement.
    let reply = server.post("again").await;
    assert_eq!((reply.status, reply.text()), (200, r#"{"data": "again"}"#));
    let (result, log) = server.stop().await;
    result.unwrap();
    assert!(log.contains("died during a request (exit code 1)"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_restarts_the_worker() {
    let app = App::new(PROBE);
    let mut config = app.config();
    config.memory_limit_bytes = Some(150 << 20);
    let server = Server::ready(config).await;
    let started = Instant::now();
    let reply = server.post("alloc").await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "killed before run() returned"
    );
    assert_eq!(
        reply.json(),
        json!({"message": "The scoring worker exceeded its memory limit and was restarted. Check the logs for more info."})
    );
    let reply = server.post("after").await;
    assert_eq!((reply.status, reply.text()), (200, r#"{"data": "after"}"#));
    let (result, log) = server.stop().await;
    result.unwrap();
    assert!(log.contains("over the limit of 150 MiB"), "{log}");
}
