//! The azmlinfsrv contract against a real server on 127.0.0.1 with real Python workers: the
//! machine's `python3` for undecorated scripts, and a virtual environment with inference-schema,
//! numpy and pandas (made by `scripts/setup-test-tools`) for the other script styles.

mod common;
mod limits;
mod routes;
mod settings;
mod styles;
