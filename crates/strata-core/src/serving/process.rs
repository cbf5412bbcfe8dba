//! A service's server process: readiness on its port, and stopping it.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use strata_store::{SERVICE_RUNNING, ServiceRecord, Workspace};

/// `GET /health/ready` answers 200.
pub fn ready(host: IpAddr, port: u16) -> bool {
    let address = SocketAddr::new(
        if host.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            host
        },
        port,
    );
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream
        .write_all(b"GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = [0u8; 12];
    stream.read_exact(&mut response).is_ok() && response.starts_with(b"HTTP/1.1 200")
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Stops a service's server: SIGTERM (graceful: in-flight requests finish), SIGKILL after 30 s.
pub fn stop(service: &ServiceRecord) {
    let Some(pid) = service.pid.and_then(|p| u32::try_from(p).ok()) else {
        return;
    };
    if !strata_run::is_alive(pid, service.pid_start.as_deref()) {
        return;
    }
    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
    let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(30);
    while strata_run::is_alive(pid, service.pid_start.as_deref()) {
        if Instant::now() >= deadline {
            let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The deploying command watches readiness; the record says running once the port answers.
pub(super) fn watch_ready(root: &Path, name: &str, address: SocketAddr, pid: u32) {
    let root = root.to_path_buf();
    let name = name.to_string();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if ready(address.ip(), address.port()) {
                if let Ok(workspace) = Workspace::open(&root) {
                    let _ = workspace.set_service_state(
                        &name,
                        SERVICE_RUNNING,
                        Some((pid, strata_run::start_time(pid).unwrap_or_default())),
                        None,
                    );
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}
