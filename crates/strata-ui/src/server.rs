//! Serving a [`Ui`] over HTTP/1.1 with hyper: one task per connection.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, Limited, StreamBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::app::{Body, Request, Response, Ui, UiError};

/// The largest request body read (the scoring form).
const MAX_REQUEST: usize = 2 << 20;

/// Binds `127.0.0.1:port` (0 picks a free port); never another interface.
pub fn bind_local(port: u16) -> Result<StdListener, UiError> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = StdListener::bind(address).map_err(|source| UiError::Bind {
        address: address.to_string(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| UiError::Bind {
            address: address.to_string(),
            source,
        })?;
    Ok(listener)
}

/// Serves `ui` on `listener` until `shutdown` completes. Must run inside a tokio runtime.
pub async fn serve(
    ui: Arc<Ui>,
    listener: StdListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), UiError> {
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let listener = TcpListener::from_std(listener).map_err(|source| UiError::Bind {
        address: address.clone(),
        source,
    })?;
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("ui: accepting a connection: {error}");
                    continue;
                }
            },
        };
        let ui = Arc::clone(&ui);
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&ui), request));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("ui: connection: {error}");
            }
        });
    }
}

async fn answer(
    ui: Arc<Ui>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Sent>, Infallible> {
    let received = std::time::Instant::now();
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let is_form = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = match Limited::new(request.into_body(), MAX_REQUEST)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(plain(413, "Request body too large")),
    };
    let body = if is_form { body } else { Bytes::new() };
    let request = Request::new(&method, &path, query.as_deref(), &body);
    let head = request.method == "HEAD";
    let response = ui.handle(&request).await;
    // Server time: from the request's arrival to its rendered response.
    tracing::debug!(
        "{method} {path} {} {:.2} ms",
        response.status,
        received.elapsed().as_secs_f64() * 1000.0
    );
    Ok(to_hyper(response, head).await)
}

/// A response body: bytes, or a staged file streamed in chunks.
type Sent = BoxBody<Bytes, std::io::Error>;

fn bytes(bytes: Bytes) -> Sent {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn plain(status: u16, text: &'static str) -> hyper::Response<Sent> {
    let mut response = hyper::Response::new(bytes(Bytes::from_static(text.as_bytes())));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

async fn to_hyper(response: Response, head: bool) -> hyper::Response<Sent> {
    let mut length = None;
    let body = match response.body {
        _ if head => bytes(Bytes::new()),
        Body::Bytes(data) => bytes(Bytes::from(data)),
        Body::File(staged) => match tokio::fs::File::open(&staged).await {
            Ok(file) => {
                length = file.metadata().await.ok().map(|m| m.len());
                // The staged copy lives as long as its stream.
                let frames = tokio_util::io::ReaderStream::new(file).map_ok(move |chunk| {
                    let _keep = &staged;
                    Frame::data(chunk)
                });
                StreamBody::new(frames).boxed()
            }
            Err(error) => {
                tracing::error!("ui: opening a staged download: {error}");
                return plain(500, "Internal error");
            }
        },
    };
    let mut out = hyper::Response::new(body);
    *out.status_mut() = http::StatusCode::from_u16(response.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(response.content_type),
    );
    if let Some(length) = length {
        headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(length),
        );
    }
    for (name, value) in response.headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    out
}

/// Serves `ui` on `listener` on a runtime of its own until Ctrl-C (SIGINT) or SIGTERM.
pub fn serve_until_interrupted(ui: Arc<Ui>, listener: StdListener) -> Result<(), UiError> {
    let runtime_error = |source| UiError::Runtime { source };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(runtime_error)?;
    runtime.block_on(async move {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(runtime_error)?;
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        };
        serve(ui, listener, shutdown).await
    })
}
