//! Processes: start times (to tell a live supervisor from a reused pid) and process groups.

use std::path::Path;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The start time of a process in clock ticks since boot (`/proc/PID/stat`, field 22), which
/// with the pid identifies a process even after pid reuse.
pub fn start_time(pid: u32) -> Option<String> {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are plain.
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split_whitespace();
    // A zombie has ended; only its exit status waits to be collected.
    if matches!(fields.next(), Some("Z" | "X")) {
        return None;
    }
    fields.nth(18).map(str::to_string)
}

/// Whether the process `pid` that started at `start` still runs.
pub fn is_alive(pid: u32, start: Option<&str>) -> bool {
    match (start_time(pid), start) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Signals every process of a group; a group that is gone is not an error.
pub fn signal_group(group: u32, signal: Signal) {
    if let Ok(group) = i32::try_from(group) {
        let _ = killpg(Pid::from_raw(group), signal);
    }
}

/// Whether any process of the group runs in `dir` (so an orphaned script can be told from an
/// unrelated process that reused the number).
pub(crate) fn group_runs_in(group: u32, dir: &Path) -> bool {
    let Ok(entries) = fs_err::read_dir("/proc") else {
        return false;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs_err::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        // Field 5 of stat is the process group: the third after the command name.
        if after
            .split_whitespace()
            .nth(2)
            .and_then(|g| g.parse::<u32>().ok())
            == Some(group)
            && fs_err::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        {
            return true;
        }
    }
    false
}
