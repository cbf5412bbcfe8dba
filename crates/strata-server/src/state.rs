//! What every request handler shares.

use std::sync::Arc;

use strata_store::store::ServerBackends;

use crate::ServerOptions;

/// The server's storage and settings.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) backends: ServerBackends,
    pub(crate) options: Arc<ServerOptions>,
    pub(crate) conditional: Arc<Stripes>,
}

/// Serializes the read-compare-write of conditional changes (`If-Match`) to one resource
/// within this process, so two requests holding the same tag cannot both win.
pub(crate) struct Stripes([tokio::sync::Mutex<()>; 64]);

impl Stripes {
    pub(crate) fn new() -> Self {
        Self(std::array::from_fn(|_| tokio::sync::Mutex::new(())))
    }

    /// The lock of one resource (a workspace, a kind and a name).
    pub(crate) async fn lock(&self, key: &[&str]) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % 64).unwrap_or(0);
        self.0[index].lock().await
    }
}
