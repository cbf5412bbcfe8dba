//! A deployed service's log file, rotated with a size cap: past the cap, `service.log` becomes
//! `service.log.1` (replacing the previous one) and a new `service.log` begins, so a service
//! keeps at most about twice the cap on disk.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The size at which the log is rotated.
pub(super) const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The rotated file next to `path`.
pub(super) fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

struct Rotating {
    path: PathBuf,
    max_bytes: u64,
    file: std::fs::File,
    size: u64,
    /// Whether stdout and stderr follow the current file.
    redirect: bool,
}

impl Rotating {
    fn write(&mut self, bytes: &[u8]) {
        if self.size > 0 && self.size + bytes.len() as u64 > self.max_bytes {
            self.rotate();
        }
        if self.file.write_all(bytes).is_ok() {
            self.size += bytes.len() as u64;
        }
    }

    fn rotate(&mut self) {
        if fs_err::rename(&self.path, rotated(&self.path)).is_err() {
            return;
        }
        if let Ok(file) = open(&self.path) {
            self.file = file;
            self.size = 0;
            if self.redirect {
                redirect(&self.file);
            }
        }
    }
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Points the process's stdout and stderr at the current log file, so what the server prints
/// outside the log (an error as it exits) lands there too.
fn redirect(file: &std::fs::File) {
    let _ = nix::unistd::dup2_stdout(file);
    let _ = nix::unistd::dup2_stderr(file);
}

/// A sink writing to `path`, rotated past `max_bytes`.
pub(super) fn sink(path: &Path, max_bytes: u64) -> std::io::Result<strata_serve::LogSink> {
    let file = open(path)?;
    let size = file.metadata()?.len();
    redirect(&file);
    let log = Mutex::new(Rotating {
        path: path.to_path_buf(),
        max_bytes,
        file,
        size,
        redirect: true,
    });
    Ok(Arc::new(move |lines: &str| {
        if let Ok(mut log) = log.lock() {
            log.write(lines.as_bytes());
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_past_the_cap_and_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.log");
        let mut log = Rotating {
            path: path.clone(),
            max_bytes: 10,
            file: open(&path).unwrap(),
            size: 0,
            redirect: false,
        };
        for line in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n"] {
            log.write(line.as_bytes());
        }
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "eeee\n");
        assert_eq!(
            fs_err::read_to_string(rotated(&path)).unwrap(),
            "cccc\ndddd\n"
        );
    }
}
