//! CLI behaviour through the real `strata` binary.

mod build;
mod common;
mod concurrency;
mod docs;
mod env;
mod help;
mod image;
mod inventory;
mod runs;
mod serve;
