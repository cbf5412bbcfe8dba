//! Faults: a server killed during writes restarts consistent, and a database restart makes
//! requests fail with 503 until it is back, without a server restart.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::TestContext;

use super::{Team, http_get, pg_uri, start_server};

/// Registrations from 8 clients at once while the server is killed (SIGKILL) and started
/// again: every registration that was answered is there afterwards, versions run 1..n with no
/// gap or duplicate, and each version reads back whole.
#[test]
fn a_server_killed_during_writes_restarts_consistent() {
    let Some(mut team) = Team::new("kill") else {
        return;
    };
    let url = team.server.url.clone();
    let port: u16 = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let stop = stop.clone();
            let answered = answered.clone();
            let dir = team.context.path().join(format!("client{client}"));
            let token = team.alice.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    n += 1;
                    fs_err::create_dir_all(&dir).unwrap();
                    fs_err::write(
                        dir.join("requirements.txt"),
                        format!("six==1.16.0\n# {client}-{n}\npackaging>={client}.{n}\n"),
                    )
                    .unwrap();
                    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
                        .current_dir(&dir)
                        .env("STRATA_WORKSPACE", &url)
                        .env("STRATA_TOKEN", &token)
                        .args([
                            "env",
                            "register",
                            "--name",
                            "shared",
                            "--requirements",
                            "requirements.txt",
                            "--json",
                        ])
                        .output()
                        .unwrap();
                    if output.status.success() {
                        let value: serde_json::Value =
                            serde_json::from_slice(&output.stdout).unwrap();
                        answered
                            .lock()
                            .unwrap()
                            .push(value["version"].as_u64().unwrap());
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(team.server.child.id().to_string())
        .status();
    let _ = team.server.child.wait();
    std::thread::sleep(Duration::from_millis(500));
    team.server = start_server(&team.context, &team.database, port);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }
    let versions: serde_json::Value = serde_json::from_str(&team.ok(
        &team.bob,
        "bob",
        &["env", "list", "--all-versions", "--json"],
    ))
    .unwrap();
    let mut stored: Vec<u64> = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"] == "shared")
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    stored.sort_unstable();
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() > 4,
        "registrations were answered before and after: {answered:?}"
    );
    assert_eq!(
        stored,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    for version in &answered {
        assert!(
            stored.contains(version),
            "answered version {version} is stored"
        );
    }
    for version in &stored {
        team.ok(
            &team.bob,
            "bob",
            &["env", "show", &format!("shared:{version}")],
        );
    }
}

/// PostgreSQL stopped under a running server: requests fail with a clear "unavailable" error
/// (503) while it is down, and succeed again once it is back, without restarting the server.
#[test]
fn a_database_restart_is_unavailable_then_recovers_without_a_server_restart() {
    if pg_uri().is_none() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-test-server");
    let cluster = tempfile::tempdir().unwrap();
    let pg = |command: &str| -> String {
        let output = Command::new(&script)
            .arg(command)
            .arg(cluster.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pg-test-server {command}: {output:?}"
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    struct Stop<'a>(&'a Path, &'a Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = Command::new(self.0).arg("stop").arg(self.1).output();
        }
    }
    let uri = pg("start");
    let _stop = Stop(&script, cluster.path());
    let team = Team::on(TestContext::bare(), uri);
    team.ok(&team.bob, "bob", &["env", "list"]);
    pg("stop");
    let down = team.run(&team.bob, "bob", &["env", "list"]);
    assert_eq!(down.code, 1, "{down}");
    assert!(down.stderr.contains("unavailable"), "{down}");
    let port: u16 = team
        .server
        .url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(http_get(port, "/api/v1/health").is_some_and(|r| r.starts_with("HTTP/1.1 503")));
    pg("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = team.run(&team.bob, "bob", &["env", "list"]);
        if up.code == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not recover: {up}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
