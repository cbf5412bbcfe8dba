//! What every request handler shares.

use std::sync::Arc;

use strata_store::store::ServerBackends;

use crate::ServerOptions;
use crate::refusals::Refusals;

/// The server's storage and settings.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) backends: ServerBackends,
    pub(crate) options: Arc<ServerOptions>,
    pub(crate) refusals: Arc<Refusals>,
}
