//! The Strata team server: shared workspaces over HTTP (`/api/v1`), with bearer tokens,
//! per-workspace roles, an audit log, and blobs in a directory or S3.

pub use blobs::{BlobUrlError, ObjectBlobs, open_blobs};
pub use openapi::{Body, ROUTES, Route, RouteAccess, SchemaFn, document as openapi_document};
pub use refusals::RefusalLimits;
pub use serve::{ServerError, ServerOptions, router, serve};

mod auth;
mod blobs;
mod errors;
mod etags;
mod openapi;
mod pages;
mod refusals;
mod request_log;
mod routes;
mod serve;
mod state;
mod ui;
