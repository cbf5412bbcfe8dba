//! The binary's allocator, and how it uses memory for commands that stay running.
//!
//! mimalloc with transparent huge pages makes the commands that read thousands of records and
//! write megabytes (`env audit --all`, `env search`) a third faster than glibc's malloc: most
//! of their time was allocating, freeing and faulting in fresh pages. Huge pages cost resident
//! memory in 2 MiB steps, though, which a server or a serving front end that lives for days
//! should not pay; those turn them off for the process.

use crate::cli::{Command, RunsCommand, ServerCommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Whether `command` keeps running after its work is done (serving, supervising a run).
fn stays_running(command: &Command) -> bool {
    matches!(
        command,
        Command::Serve(_)
            | Command::Deploy(_)
            | Command::Ui(_)
            | Command::Run(_)
            | Command::Server(ServerCommand::Run { .. })
            | Command::Runs(RunsCommand::Supervise { .. })
            | Command::Compute(crate::cli::ComputeCommand::JobStep { .. })
    )
}

/// Turns transparent huge pages off until [`configure`] knows the command: what is allocated
/// while the command line is parsed would otherwise already sit in huge pages.
pub(crate) fn start() {
    set_huge_pages(false);
}

/// Turns transparent huge pages back on, unless `command` stays running.
pub(crate) fn configure(command: &Command) {
    set_huge_pages(!stays_running(command));
}

/// Linux only; elsewhere, and if the kernel refuses, memory is used as it would be otherwise.
fn set_huge_pages(enabled: bool) {
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(!enabled);
    #[cfg(not(target_os = "linux"))]
    let _ = enabled;
}
