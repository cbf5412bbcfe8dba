//! CLI behaviour through the real `strata` binary.

mod api;
mod build;
mod common;
mod compute;
mod concurrency;
mod docs;
mod env;
mod env_formats;
mod env_hostile;
mod faults;
mod first_builds;
mod help;
mod image;
mod inventory;
mod runs;
mod serve;
mod serve_settings;
mod server;
mod ui;
mod ui_server;
