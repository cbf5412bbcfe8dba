//! A database restart under a live store: requests fail as `Unavailable` (the server answers
//! 503) while it is down and succeed again once it is back, with no reconnect by hand.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use strata_store::store::ServerStore;
use strata_store::{RegisterOptions, StoreError};
use strata_store_postgres::PostgresStore;

/// A cluster of this test's own (restarting the shared one would break the other tests),
/// stopped when the test ends, however it ends.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-test-server")
    }

    fn run(&self, command: &str) -> String {
        let output = Command::new(Self::script())
            .arg(command)
            .arg(self.dir.path())
            .output()
            .expect("running scripts/pg-test-server");
        assert!(
            output.status.success(),
            "scripts/pg-test-server {command} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_database_is_unavailable_then_recovers() {
    // Runs where PostgreSQL tests run (and so never silently in CI).
    if common::pg_uri().is_none() {
        return;
    }
    let cluster = Cluster {
        dir: tempfile::tempdir().expect("a directory for the cluster"),
    };
    let url = cluster.run("start");
    let store = PostgresStore::connect(&url).await.expect("connecting");
    store.migrate().await.expect("migrating");
    let actor = common::actor("admin");
    store
        .create_workspace("restart", &actor)
        .await
        .expect("a workspace");
    let records = store
        .workspace("restart", actor)
        .await
        .expect("the workspace");
    let environment =
        |image: &str| strata_spec::Environment::from_docker_image("survivor", image, None).0;
    records
        .register_environment(environment("img:1"), RegisterOptions::default())
        .await
        .expect("registering before the restart");

    cluster.run("stop");
    let down = store.ping().await.expect_err("pinging a stopped database");
    assert!(matches!(down, StoreError::Unavailable { .. }), "{down:?}");
    let refused = records
        .register_environment(environment("img:2"), RegisterOptions::default())
        .await
        .expect_err("registering while the database is down");
    assert!(
        matches!(refused, StoreError::Unavailable { .. }),
        "{refused:?}"
    );

    cluster.run("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(error) = store.ping().await {
        assert!(
            Instant::now() < deadline,
            "the store did not recover after the restart: {error}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let registration = records
        .register_environment(environment("img:2"), RegisterOptions::default())
        .await
        .expect("registering after the restart, on the same store");
    assert_eq!(registration.record.version.as_str(), "2");
    let before = records
        .get_environment(
            "survivor",
            Some(&strata_spec::EnvironmentVersion::number(1)),
        )
        .await
        .expect("what was stored before the restart");
    assert_eq!(
        before.environment.docker.base_image.as_deref(),
        Some("img:1")
    );
    store.close().await;
}
