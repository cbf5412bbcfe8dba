//! Locks and builds of a server workspace (PostgreSQL records, S3 blobs): made on a
//! teammate's machine, from the lock the server holds, and recorded on the server, failures
//! with their logs; the roles of the server decide who may store a lock or a build.

use serde_json::Value;
use strata_store::BuildRecord;
use strata_store::store::WorkspaceStore as _;

use super::Team;

/// The builds the server recorded of `name:1`, newest first, read through the API.
fn server_builds(team: &Team, token: &str, name: &str) -> Vec<BuildRecord> {
    let store = strata_client::RemoteStore::new(&team.server.url, token).unwrap();
    let version = strata_spec::EnvironmentVersion::number(1);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(store.list_builds(name, &version, None, 100))
        .unwrap()
        .items
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// What the terminal reporter prints (no TTY) while resolving.
const RESOLVING: &str = "==> Resolving";

#[test]
fn builds_happen_on_the_client_and_are_recorded_on_the_server() {
    let Some(team) = Team::on_s3("builds") else {
        return;
    };
    let context = &team.context;
    let carol = team.token("carol", "contributor");
    context.ok(&["env", "scaffold", "-n", "trainenv", "-d", "envdir"]);
    team.ok(&team.alice, "alice", &["env", "register", "-d", "envdir"]);

    // Bob (reader) cannot lock what nobody has locked: storing the lock needs a contributor.
    let refused = team.run(&team.bob, "bob", &["env", "lock", "trainenv"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.contains(&format!(
            "error: Failed to store the lock of `trainenv:1` on `{}`",
            team.server.url
        )),
        "{refused}"
    );
    assert!(
        refused
            .stderr
            .contains("your role in workspace `team` is `reader`; this needs `contributor`"),
        "{refused}"
    );
    assert!(refused.stderr.contains("hint: Ask an owner"), "{refused}");

    // Alice builds on her machine: the server gets the lock and her build, its log first.
    let built = json(&team.ok(
        &team.alice,
        "alice",
        &["env", "build", "trainenv", "--json"],
    ));
    let lock_hash = built["lockHash"].as_str().unwrap().to_string();
    assert_eq!(built["name"], "trainenv", "{built}");
    assert_eq!(built["version"], 1, "{built}");
    assert_eq!(built["reused"], false, "{built}");
    assert!(
        built["prefix"].as_str().unwrap().contains("alice-cache"),
        "{built}"
    );
    let builds = server_builds(&team, &team.bob, "trainenv");
    assert_eq!(builds.len(), 1, "{builds:?}");
    assert_eq!(builds[0].status, "succeeded");
    assert_eq!(builds[0].lock_hash.as_deref(), Some(lock_hash.as_str()));
    assert!(builds[0].log_digest.is_some(), "{builds:?}");

    // Bob reads the server's lock without resolving anything, in JSON as locally.
    let locked = team.run(&team.bob, "bob", &["env", "lock", "trainenv", "--json"]);
    assert_eq!(locked.code, 0, "{locked}");
    assert!(!locked.stderr.contains(RESOLVING), "{locked}");
    let lock = json(&locked.stdout);
    assert_eq!(lock["lockHash"], lock_hash.as_str(), "{lock}");
    assert_eq!(lock["name"], "trainenv");
    assert!(lock["lock"]["pypi"].is_array(), "{lock}");
    let text = team.ok(&team.bob, "bob", &["env", "lock", "trainenv:1"]);
    assert!(
        text.starts_with(&format!(
            "trainenv:1 is locked (lock hash {}",
            strata_build::short(&lock_hash)
        )),
        "{text}"
    );

    // The log of Alice's build, from the server, on Bob's machine.
    let log = team.run(&team.bob, "bob", &["env", "build-log", "trainenv"]);
    assert_eq!(log.code, 0, "{log}");
    assert!(
        log.stderr.contains("Build of trainenv:1 succeeded"),
        "{log}"
    );
    assert!(log.stdout.contains("building trainenv:1"), "{log}");
    assert!(
        log.stdout.contains("locking trainenv:1") && log.stdout.contains(RESOLVING),
        "the resolution made on Alice's machine is in the log: {log}"
    );
    assert!(
        log.stdout
            .contains(&format!("using the stored lock {lock_hash}")),
        "Alice built from the lock she shared: {log}"
    );

    // Carol builds in her own cache from that lock, without resolving, and her build is
    // recorded too; `env exec` then reuses her prefix and records nothing new.
    let output = team.run(&carol, "carol", &["env", "build", "trainenv:1", "--json"]);
    assert_eq!(output.code, 0, "{output}");
    assert!(!output.stderr.contains(RESOLVING), "{output}");
    let hers = json(&output.stdout);
    assert_eq!(hers["lockHash"], lock_hash.as_str(), "{hers}");
    assert!(
        hers["prefix"].as_str().unwrap().contains("carol-cache"),
        "{hers}"
    );
    let builds = server_builds(&team, &carol, "trainenv");
    assert_eq!(builds.len(), 2, "{builds:?}");
    // The output names the test directory `[TEMP]`; the record holds the path itself.
    let prefix = hers["prefix"]
        .as_str()
        .unwrap()
        .trim_start_matches("[TEMP]");
    assert!(
        builds[0]
            .prefix
            .as_deref()
            .is_some_and(|p| p.ends_with(prefix)),
        "the newest build is Carol's: {builds:?}"
    );
    assert_eq!(builds[0].lock_hash.as_deref(), Some(lock_hash.as_str()));
    let exec = team.run(
        &carol,
        "carol",
        &[
            "env",
            "exec",
            "trainenv",
            "--",
            "python",
            "-c",
            "import os; print(os.environ['STRATA_ENVIRONMENT'])",
        ],
    );
    assert_eq!(exec.code, 0, "{exec}");
    assert_eq!(exec.stdout.trim(), "trainenv:1", "{exec}");
    assert_eq!(server_builds(&team, &carol, "trainenv").len(), 2);

    // Resolving again gives the same packages: the lock stays, no version is added.
    let refreshed = team.ok(&carol, "carol", &["env", "lock", "trainenv", "--refresh"]);
    assert!(
        refreshed.contains("trainenv:1 resolves the same; its lock is unchanged"),
        "{refreshed}"
    );
    let versions = team.ok(
        &carol,
        "carol",
        &["env", "list", "--all-versions", "--json"],
    );
    let versions = json(&versions);
    let trainenv = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"] == "trainenv")
        .count();
    assert_eq!(trainenv, 1, "{versions}");

    // Bob builds on his machine from the server's lock and may use the prefix, but the server
    // does not take a reader's build record, and he is told so.
    let bobs = team.run(&team.bob, "bob", &["env", "build", "trainenv"]);
    assert_eq!(bobs.code, 0, "{bobs}");
    assert!(bobs.stdout.contains("bob-cache"), "{bobs}");
    assert!(
        bobs.stderr.contains(
            "The build of trainenv:1 is not recorded on the server (Not allowed: your role in workspace `team` is `reader`; this needs `contributor`)"
        ),
        "{bobs}"
    );
    assert_eq!(server_builds(&team, &carol, "trainenv").len(), 2);
}

#[test]
fn a_failed_build_is_recorded_on_the_server_with_its_log() {
    let Some(team) = Team::on_s3("failed_builds") else {
        return;
    };
    team.register(
        "missing",
        "missing.txt",
        "strata-surely-not-a-package-xyz==1.0\n",
    );
    let no_build = team.run(&team.bob, "bob", &["env", "build-log", "missing"]);
    assert_eq!(no_build.code, 1, "{no_build}");
    assert!(
        no_build
            .stderr
            .contains("No build of missing:1 is recorded on the server"),
        "{no_build}"
    );

    let failed = team.run(&team.alice, "alice", &["env", "build", "missing"]);
    assert_eq!(failed.code, 1, "{failed}");
    assert!(
        failed
            .stderr
            .contains("error: Failed to lock `missing:1`\n"),
        "{failed}"
    );
    assert!(
        failed.stderr.contains("strata-surely-not-a-package-xyz"),
        "{failed}"
    );
    assert!(
        failed
            .stderr
            .contains("hint: The full log: `strata env build-log missing:1`"),
        "{failed}"
    );
    let builds = server_builds(&team, &team.bob, "missing");
    assert_eq!(builds.len(), 1, "{builds:?}");
    assert_eq!(builds[0].status, "failed");
    assert_eq!(builds[0].lock_hash, None, "it failed to lock");
    assert!(
        builds[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("strata-surely-not-a-package-xyz")),
        "{builds:?}"
    );

    // A teammate sees why, from another machine: the log comes from the server.
    let log = team.run(&team.bob, "bob", &["env", "build-log", "missing"]);
    assert_eq!(log.code, 0, "{log}");
    assert!(log.stderr.contains("Build of missing:1 failed"), "{log}");
    assert!(log.stdout.contains("uv pip compile"), "{log}");
    assert!(
        log.stdout.contains("error: ") && log.stdout.contains("strata-surely-not-a-package-xyz"),
        "{log}"
    );

    // A reader's failure is not recorded (the server refuses it), and the error says so.
    let bobs = team.run(&team.bob, "bob", &["env", "build", "missing"]);
    assert_eq!(bobs.code, 1, "{bobs}");
    assert!(
        bobs.stderr.contains(
            "error: Failed to lock `missing:1` (the failure is not recorded on the team server: Not allowed: your role in workspace `team` is `reader`; this needs `contributor`)"
        ),
        "{bobs}"
    );
    assert_eq!(server_builds(&team, &team.bob, "missing").len(), 1);
}

/// Conda packages are solved and installed by a runtime of their own, which must not block
/// the one that talks to the server.
#[test]
fn a_conda_environment_of_a_server_workspace_is_built_and_run_here() {
    let Some(team) = Team::new("conda") else {
        return;
    };
    let channel = team.context.path().join("channel");
    strata_build::test_channel::write_channel(
        &channel,
        &strata_build::test_channel::sample_packages(),
    )
    .unwrap();
    team.context.write(
        "environment.yml",
        &format!(
            "name: condaenv\nchannels:\n- file://{}\ndependencies:\n- python=3.11\n- mat-app\n- pip\n- pip:\n  - six==1.16.0\n",
            channel.display()
        ),
    );
    team.ok(
        &team.alice,
        "alice",
        &[
            "env",
            "register",
            "--name",
            "conda",
            "--conda-file",
            "environment.yml",
        ],
    );
    let built = json(&team.ok(&team.alice, "alice", &["env", "build", "conda", "--json"]));
    assert!(built["prefix"].is_string(), "{built}");
    let builds = server_builds(&team, &team.alice, "conda");
    let [build] = &builds[..] else {
        panic!("one build recorded");
    };
    assert_eq!(build.status, "succeeded", "{build:?}");
    team.context.write(
        "src/train.py",
        "import six\nprint('six', six.__version__)\n",
    );
    let output = team.run(
        &team.alice,
        "alice",
        &["run", "--env", "conda", "--source-dir", "src", "train.py"],
    );
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stdout.contains("six 1.16.0"), "{output}");
    let lock = json(&team.ok(&team.bob, "bob", &["env", "lock", "conda", "--json"]));
    assert_eq!(lock["lock"]["conda"][0]["name"], "mat-app", "{lock}");
}
