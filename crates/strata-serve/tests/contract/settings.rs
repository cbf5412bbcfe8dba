//! The reference server's settings as the server takes them: the `x-ms-server-version` header,
//! CORS origins, a separate health port; and the bounds on what a script's output may cost.

use tokio::net::TcpListener;

use crate::common::*;

const ECHO: &str = r#"
def init():
    pass


def run(raw_data):
    if raw_data == "huge":
        print("x" * (100 << 20))
        print("after the huge line")
    return {"echo": raw_data}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_version_header_can_be_turned_off() {
    let app = App::new(ECHO);
    let server = Server::ready(app.config()).await;
    let reply = server.post("a").await;
    assert_eq!(
        reply.header("x-ms-server-version"),
        Some(concat!("strata/", env!("CARGO_PKG_VERSION")))
    );
    server.stop().await.0.unwrap();

    let mut config = app.config();
    config.server_version_header = false;
    let server = Server::ready(config).await;
    for path in ["/", "/score", "/swagger.json"] {
        let reply = request(server.addr, "GET", path, &[], b"").await.unwrap();
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.header("x-ms-server-version").is_none(), "{path}");
        assert!(reply.header("x-request-id").is_some(), "{path}");
    }
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_for_the_listed_origins() {
    let app = App::new(ECHO);
    let server = Server::ready(app.config()).await;
    let reply = request(
        server.addr,
        "POST",
        "/score",
        &[("Origin", "https://a.example")],
        b"x",
    )
    .await
    .unwrap();
    assert!(
        reply.header("access-control-allow-origin").is_none(),
        "off by default"
    );
    server.stop().await.0.unwrap();

    let mut config = app.config();
    config.cors_origins = vec!["https://a.example".to_string(), "b.example".to_string()];
    let server = Server::ready(config).await;
    let mut client = Client::connect(server.addr).await.unwrap();
    let reply = client
        .send("POST", "/score", &[("Origin", "https://a.example")], b"x")
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://a.example")
    );
    // Origins match exactly, as with flask-cors.
    let reply = client
        .send("POST", "/score", &[("Origin", "https://b.example")], b"x")
        .await
        .unwrap();
    assert!(reply.header("access-control-allow-origin").is_none());
    let reply = client
        .send(
            "OPTIONS",
            "/score",
            &[
                ("Origin", "b.example"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("b.example")
    );
    assert_eq!(
        reply.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    assert_eq!(
        reply.header("access-control-allow-headers"),
        Some("content-type")
    );
    server.stop().await.0.unwrap();

    let mut config = app.config();
    config.cors_origins = vec!["*".to_string()];
    let server = Server::ready(config).await;
    let reply = request(server.addr, "GET", "/", &[("Origin", "http://any")], b"")
        .await
        .unwrap();
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_health_port_serves_the_same_routes() {
    let app = App::new(ECHO);
    let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health_addr = health.local_addr().unwrap();
    let server = Server::start_on(
        app.config(),
        strata_serve::Listeners {
            main,
            health: Some(health),
        },
    )
    .await;
    server.wait_ready().await;
    let reply = request(health_addr, "GET", "/", &[], b"").await.unwrap();
    assert_eq!((reply.status, reply.text()), (200, "Healthy"));
    let reply = request(health_addr, "GET", "/health/ready", &[], b"")
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let reply = request(health_addr, "POST", "/score", &[], b"h")
        .await
        .unwrap();
    assert_eq!(reply.text(), r#"{"echo": "h"}"#);
    assert_eq!(server.post("m").await.text(), r#"{"echo": "m"}"#);
    let (result, log) = server.stop().await;
    result.unwrap();
    assert!(
        log.contains(&format!("health port: http://{health_addr}/")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_print_is_cut_in_the_log() {
    let app = App::new(ECHO);
    let server = Server::ready(app.config()).await;
    let reply = server.post("huge").await;
    assert_eq!(reply.status, 200);
    let log = server.wait_log("after the huge line").await;
    assert!(
        log.contains(&format!(
            "[line cut: {} more bytes not logged]",
            (100 << 20) - 16 * 1024
        )),
        "{}",
        &log[log.len().saturating_sub(2000)..]
    );
    assert!(log.len() < 1 << 20, "the log grew by {} bytes", log.len());
    server.stop().await.0.unwrap();
}
