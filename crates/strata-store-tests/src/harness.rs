//! What the suite needs beyond the two traits: a way to make an uploaded blob referenceable.

use std::sync::Arc;

use async_trait::async_trait;
use strata_store::StoreError;
use strata_store::store::ServerStore;

/// Makes a stored blob referenceable by the records under test. A server grants a blob to a
/// workspace once it holds the bytes; a local workspace's blobs are its own.
#[async_trait]
pub trait BlobGrants: Send + Sync {
    async fn grant(&self, digest: &str) -> Result<(), StoreError>;
}

/// For stores whose blobs belong to the workspace itself (`SqliteStore`): nothing to grant.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnBlobs;

#[async_trait]
impl BlobGrants for OwnBlobs {
    async fn grant(&self, _digest: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Grants through a [`ServerStore`] to one workspace, as the server does after an upload.
#[derive(Clone)]
pub struct ServerGrants {
    pub server: Arc<dyn ServerStore>,
    pub workspace: String,
}

#[async_trait]
impl BlobGrants for ServerGrants {
    async fn grant(&self, digest: &str) -> Result<(), StoreError> {
        self.server.grant_blob(&self.workspace, digest).await
    }
}
