//! The `strata` binary.

use std::process::ExitCode;

mod cli;
mod commands;
mod errors;
mod logging;
mod memory;
mod printer;
mod progress;
mod source;
mod table;

fn main() -> ExitCode {
    commands::main()
}
