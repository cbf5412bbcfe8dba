//! The API description: a snapshot of the document, which names every route the server has.

mod common;

use strata_server::{ROUTES, openapi_document};

#[test]
fn the_openapi_document_is_stable() {
    insta::assert_json_snapshot!("openapi", openapi_document());
}

#[test]
fn the_document_describes_every_route_once() {
    let document = openapi_document();
    let paths = document["paths"].as_object().unwrap();
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        operations,
        ROUTES.len(),
        "one operation per route, none twice"
    );
    for route in ROUTES {
        let operation = &paths[route.path][route.method];
        assert!(
            operation["summary"].is_string(),
            "{} {}",
            route.method,
            route.path
        );
        assert!(operation["responses"][route.status.to_string()].is_object());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_document_without_a_token() {
    let Some(server) = common::TestServer::start().await else {
        return;
    };
    let served: serde_json::Value = reqwest::get(server.api("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, openapi_document());
    server.stop().await;
}
