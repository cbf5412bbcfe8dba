//! CLI behaviour through the real `strata` binary.

mod api;
mod build;
mod common;
mod concurrency;
mod docs;
mod env;
mod help;
mod image;
mod runs;
mod serve;
