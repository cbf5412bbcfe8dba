//! A team server through the real binary: `strata server` on PostgreSQL (the one the test
//! command starts, `STRATA_TEST_PG_URI`), two teammates with tokens of different roles, the
//! CLI against the server URL, a run executed here and followed from elsewhere, and a local
//! workspace pushed to the server.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestContext, shared_cache};
use crate::serve::free_port;

mod builds;
mod environments;
mod faults;
mod interactive;
mod labels;
mod push;
mod sharing;
mod targets;
mod tokens;

/// The PostgreSQL the test command started; in CI its absence is a failure, not a skip.
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn pg_uri() -> Option<String> {
    match std::env::var("STRATA_TEST_PG_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "STRATA_TEST_PG_URI is not set: scripts/test starts PostgreSQL for these tests"
            );
            eprintln!("skipping: STRATA_TEST_PG_URI is not set (scripts/test sets it)");
            None
        }
    }
}

/// A database of this test's own on the test server.
fn fresh_database(uri: &str, name: &str) -> String {
    let database = format!("strata_cli_{name}_{}", std::process::id());
    let status = Command::new("psql")
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .args([uri, "-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("DROP DATABASE IF EXISTS {database}"))
        .arg("-c")
        .arg(format!("CREATE DATABASE {database}"))
        .status()
        .expect("run psql");
    assert!(status.success(), "psql could not create {database}");
    let base = uri.rsplit_once('/').map_or(uri, |(base, _)| base);
    format!("{base}/{database}")
}

/// A running `strata server run`, stopped (SIGTERM) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix_kill(self.child.id());
        let _ = self.child.wait();
    }
}

fn nix_kill(pid: u32) -> std::io::Result<()> {
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .map(|_| ())
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

pub(crate) struct Team {
    pub(crate) context: TestContext,
    pub(crate) database: String,
    pub(crate) server: Server,
    pub(crate) alice: String,
    pub(crate) bob: String,
}

impl Team {
    pub(crate) fn new(name: &str) -> Option<Self> {
        let uri = pg_uri()?;
        let database = fresh_database(&uri, name);
        Some(Self::on(TestContext::bare(), database))
    }

    /// A team whose server keeps its blobs in S3 (the moto server the test command starts,
    /// `STRATA_TEST_S3_URL`), under a prefix of this test's own.
    pub(crate) fn on_s3(name: &str) -> Option<Self> {
        let uri = pg_uri()?;
        let s3 = required_s3()?;
        let database = fresh_database(&uri, name);
        let blobs = format!("{}/{database}", s3.trim_end_matches('/'));
        Some(Self::on_blobs(TestContext::bare(), database, &blobs))
    }

    /// A team on `database` (migrated here), its server on a port of its own.
    fn on(context: TestContext, database: String) -> Self {
        let blobs = blob_directory(&context);
        Self::on_blobs(context, database, &blobs)
    }

    /// As [`Team::on`], the server's blobs at `blobs` (`file://` or `s3://`).
    fn on_blobs(context: TestContext, database: String, blobs: &str) -> Self {
        let migrated = context.ok(&["server", "migrate", "--database", &database]);
        assert!(migrated.contains("Migrated the schema"), "{migrated}");
        context.ok(&[
            "server",
            "workspace",
            "create",
            "team",
            "--database",
            &database,
        ]);
        let alice = create_token(&context, &database, "alice", "contributor");
        let bob = create_token(&context, &database, "bob", "reader");
        let server = start_server_with(&context, &database, free_port(), blobs);
        Self {
            context,
            database,
            server,
            alice,
            bob,
        }
    }
}

/// A new token of `user` in the team's workspace, with `role`.
fn create_token(context: &TestContext, database: &str, user: &str, role: &str) -> String {
    let created = context.json(&[
        "--workspace",
        "team",
        "server",
        "token",
        "create",
        "--database",
        database,
        "--user",
        user,
        "--role",
        role,
        "--json",
    ]);
    created["token"].as_str().unwrap().to_string()
}

/// The S3 URL the test command's moto server answers at; in CI its absence is a failure.
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn required_s3() -> Option<String> {
    match std::env::var("STRATA_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "STRATA_TEST_S3_URL is not set: scripts/test starts an S3 server for these tests"
            );
            eprintln!("skipping: STRATA_TEST_S3_URL is not set (scripts/test sets it)");
            None
        }
    }
}

/// The context's blob directory, as a `--blobs` URL.
fn blob_directory(context: &TestContext) -> String {
    let blobs = context.path().join("blobs");
    fs_err::create_dir_all(&blobs).unwrap();
    format!("file://{}", blobs.display())
}

/// `strata server run` on `database`, its blobs in the context's directory; waits until it
/// answers.
fn start_server(context: &TestContext, database: &str, port: u16) -> Server {
    start_server_with(context, database, port, &blob_directory(context))
}

/// `strata server run` on `database` with its blobs at `blobs`; waits until it answers.
fn start_server_with(context: &TestContext, database: &str, port: u16, blobs: &str) -> Server {
    let child = context
        .command()
        .args(["server", "run", "--database", database, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--blobs")
        .arg(blobs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}/w/team"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_get(port, "/api/v1/health").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

impl Team {
    /// A new token of `user` in the team's workspace, with `role`.
    pub(crate) fn token(&self, user: &str, role: &str) -> String {
        create_token(&self.context, &self.database, user, role)
    }

    /// `strata` as a teammate, against the server workspace; each teammate has a cache (and
    /// so a working copy) of their own, as on separate machines.
    pub(crate) fn as_user(&self, token: &str, cache: &str) -> Command {
        let mut command = self.context.command();
        command
            .env("STRATA_WORKSPACE", &self.server.url)
            .env("STRATA_TOKEN", token)
            .env(
                "XDG_CONFIG_HOME",
                self.context.path().join(format!("{cache}-config")),
            )
            .env("STRATA_CACHE", machine_cache(self.context.path(), cache));
        command
    }

    pub(crate) fn run(&self, token: &str, cache: &str, args: &[&str]) -> crate::common::Output {
        self.context.output(self.as_user(token, cache).args(args))
    }

    pub(crate) fn ok(&self, token: &str, cache: &str, args: &[&str]) -> String {
        let output = self.run(token, cache, args);
        assert_eq!(output.code, 0, "strata {}: {output}", args.join(" "));
        output.stdout
    }

    /// Alice registers `name` on the server from a requirements file with `requirements`
    /// (written as `FILE`, which later registrations may rewrite).
    pub(crate) fn register(&self, name: &str, file: &str, requirements: &str) -> String {
        self.context.write(file, requirements);
        self.ok(
            &self.alice,
            "alice",
            &["env", "register", "--name", name, "--requirements", file],
        )
    }
}

/// A cache of its own per simulated machine, sharing the test run's downloads (uv, wheels)
/// and image store (a Debian base is made once per test run) by linking those directories of
/// the shared cache.
fn machine_cache(root: &Path, name: &str) -> PathBuf {
    let cache = root.join(format!("{name}-cache"));
    if !cache.exists() {
        fs_err::create_dir_all(&cache).unwrap();
        let shared = shared_cache();
        fs_err::create_dir_all(&shared).unwrap();
        for entry in ["tools", "uv", "conda", "wheels", "images"] {
            let source = shared.join(entry);
            fs_err::create_dir_all(&source).unwrap();
            std::os::unix::fs::symlink(&source, cache.join(entry)).unwrap();
        }
    }
    cache
}

const TRAIN: &str = r#"
import sys, time
from strata import Run
run = Run.get_context()
print("training", sys.argv[1:], flush=True)
for step in range(3):
    run.log("loss", 1.0 / (step + 1))
run.tag("team", "ml")
open("outputs/model.txt", "w").write("weights")
print("done", flush=True)
"#;
