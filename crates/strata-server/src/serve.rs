//! Starting and stopping the server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::response::IntoResponse as _;
use http::header::AUTHORIZATION;
use strata_store::StoreError;
use strata_store::store::ServerBackends;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::errors::ApiError;
use crate::refusals::{RefusalLimits, Refusals};
use crate::state::AppState;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The largest request body accepted, except blob uploads (which stream).
    pub max_body_bytes: usize,
    /// Where uploads are staged.
    pub temp_dir: PathBuf,
    /// How many refused requests are audited one by one.
    pub refusals: RefusalLimits,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            temp_dir: std::env::temp_dir(),
            refusals: RefusalLimits::default(),
        }
    }
}

/// Why the server did not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "The database schema is at version {found} and this server needs version {supported}; run `strata server migrate` first"
    )]
    SchemaPending { found: u32, supported: u32 },
    #[error(
        "The database schema is at version {found}, newer than the version {supported} this server knows; upgrade this server (`strata server migrate` never downgrades)"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("Cannot read the database schema version")]
    Schema {
        #[source]
        source: StoreError,
    },
    #[error("The server failed while serving")]
    Serve {
        #[source]
        source: std::io::Error,
    },
}

/// The API, for tests and for embedding.
pub fn router(backends: ServerBackends, options: ServerOptions) -> Router {
    app(backends, options).0
}

/// The API and its refusal audit, whose counted refusals a server flushes every window.
fn app(backends: ServerBackends, options: ServerOptions) -> (Router, Arc<Refusals>) {
    let refusals = Arc::new(Refusals::new(options.refusals));
    let state = AppState {
        backends,
        options: Arc::new(options),
        refusals: refusals.clone(),
    };
    let router = crate::routes::routes(state)
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                ApiError::internal("a request handler panicked").into_response()
            },
        ))
        .layer(axum::middleware::from_fn(crate::errors::json_errors))
        .layer(axum::middleware::from_fn(crate::request_log::middleware))
        .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]));
    (router, refusals)
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests in
/// flight. Refuses to start when the database schema is not the one this build knows.
pub async fn serve(
    listener: tokio::net::TcpListener,
    backends: ServerBackends,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (found, supported) = backends
        .records
        .schema_status()
        .await
        .map_err(|source| ServerError::Schema { source })?;
    if found < supported {
        return Err(ServerError::SchemaPending { found, supported });
    }
    if found > supported {
        return Err(ServerError::SchemaTooNew { found, supported });
    }
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving the Strata API");
    }
    let records = backends.records.clone();
    let (router, refusals) = app(backends, options);
    // Refusals counted in a window are written when it ends, even if no refusal follows.
    let flusher = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(refusals.window());
        loop {
            ticks.tick().await;
            refusals.flush(records.as_ref()).await;
        }
    });
    // The peer address reaches handlers, for the audit rows of refused requests.
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|source| ServerError::Serve { source });
    flusher.abort();
    served
}
