//! CLI behaviour through the real `strata` binary.

mod build;
mod common;
mod concurrency;
mod docs;
mod env;
mod faults;
mod help;
mod image;
mod interpreters;
mod runs;
mod serve;
mod ui;
