//! Scoring server: an azmlinfsrv-compatible HTTP front end over a pool of Python workers.

pub use config::ServeConfig;
pub use error::ServeError;
pub use log::LogSink;
pub use server::{Listeners, RELOAD_STOPPED, RELOADED, VERSION, WORKER_SCRIPT, run, serve};

mod config;
mod error;
mod http;
mod log;
mod pool;
mod protocol;
mod pyjson;
mod server;
mod worker;
