//! CLI behaviour through the real `strata` binary.

mod common;
mod concurrency;
mod docs;
mod env;
