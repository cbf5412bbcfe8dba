//! The one conformance suite: every `WorkspaceStore` and `BlobStorage` implementation runs it
//! and keeps the same rules.

pub use blobs::blob_conformance;
pub use harness::{BlobGrants, OwnBlobs, ServerGrants};
pub use suite::{browse_conformance, conformance};

mod blobs;
mod browse;
mod fixtures;
mod harness;
mod inventory;
mod labels;
mod properties;
mod story;
mod suite;
mod targets;
