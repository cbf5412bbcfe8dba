//! The team server's metadata in PostgreSQL: [`PostgresStore`] implements `ServerStore` and,
//! per workspace, `WorkspaceStore` with the rules of the SQLite store.

pub use store::{MigrationReport, PostgresStore};

mod audit;
mod browse;
mod environments;
mod error;
mod jobs;
mod labels;
mod models;
mod packages;
mod runs;
mod server;
mod sessions;
mod store;
mod targets;
mod workspace;
