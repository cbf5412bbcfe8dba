//! The rules stores have got wrong elsewhere, each tried on its own names.

use std::collections::{BTreeSet, HashMap};

use strata_store::store::{EnvironmentQuery, RunQuery, RunUpdate, state_tag};
use strata_store::{BuildRecord, RegisterOptions, StoreError};
use tokio::task::JoinSet;

use crate::fixtures::{Subject, absent_digest, environment, lock, model, service, version};

pub(crate) async fn identical_spec_registers_once(subject: &Subject) {
    let records = &subject.records;
    let first = records
        .register_environment(
            environment("same", "img:1", None),
            RegisterOptions::default(),
        )
        .await
        .expect("registering");
    let again = records
        .register_environment(
            environment("same", "img:1", None),
            RegisterOptions::default(),
        )
        .await
        .expect("registering the same definition");
    assert!(
        first.created && !again.created,
        "an identical definition registers once"
    );
    assert_eq!(again.record.version, first.record.version);
    let changed = records
        .register_environment(
            environment("same", "img:2", None),
            RegisterOptions::default(),
        )
        .await
        .expect("registering a changed definition");
    assert!(changed.created);
    assert_eq!(
        changed.record.version.as_str(),
        "2",
        "a change is the next version"
    );
    // Back to the first spec: it is not the latest, so it is a new version.
    let back = records
        .register_environment(
            environment("same", "img:1", None),
            RegisterOptions::default(),
        )
        .await
        .expect("registering the first definition again");
    assert_eq!(
        (back.created, back.record.version.as_str()),
        (true, "3"),
        "only the latest version's spec is reused"
    );
}

pub(crate) async fn concurrent_registrations_are_consecutive(subject: &Subject) {
    let mut tasks = JoinSet::new();
    for n in 0..16 {
        let records = subject.records.clone();
        tasks.spawn(async move {
            records
                .register_environment(
                    environment("concurrent", &format!("img:{n}"), None),
                    RegisterOptions::default(),
                )
                .await
        });
    }
    let mut versions = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let registration = joined
            .expect("a registration task")
            .unwrap_or_else(|e| panic!("a concurrent registration failed: {e}"));
        assert!(registration.created, "each spec is new");
        let number = registration
            .record
            .version
            .as_number()
            .expect("automatic versions are numbers");
        versions.push(number);
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (1..=16).collect::<Vec<u64>>(),
        "16 concurrent registrations get versions 1..16, no gap, no duplicate"
    );
    let latest = subject
        .records
        .get_environment("concurrent", None)
        .await
        .expect("the latest of the concurrent registrations");
    assert_eq!(
        latest.version.as_str(),
        "16",
        "the latest is the last registered"
    );
}

pub(crate) async fn explicit_versions_are_immutable(subject: &Subject) {
    let records = &subject.records;
    let created = records
        .register_environment(
            environment("explicit", "img:a", Some("2024.1-py3")),
            RegisterOptions::default(),
        )
        .await
        .expect("registering an explicit version");
    assert!(created.created);
    assert_eq!(created.record.version.as_str(), "2024.1-py3");
    let same = records
        .register_environment(
            environment("explicit", "img:a", Some("2024.1-py3")),
            RegisterOptions::default(),
        )
        .await
        .expect("registering the same explicit version again");
    assert!(
        !same.created,
        "the same content at the same version is that version"
    );
    let conflict = records
        .register_environment(
            environment("explicit", "img:b", Some("2024.1-py3")),
            RegisterOptions::default(),
        )
        .await
        .expect_err("different content at an existing version");
    assert!(
        matches!(conflict, StoreError::VersionConflict { ref version, .. } if version.as_str() == "2024.1-py3"),
        "{conflict}"
    );
    let stored = records
        .get_environment("explicit", Some(&version("2024.1-py3")))
        .await
        .expect("the explicit version");
    assert_eq!(
        stored.environment.docker.base_image.as_deref(),
        Some("img:a"),
        "a conflict changes nothing"
    );
    // String versions do not count: the next automatic version is 1.
    let automatic = records
        .register_environment(
            environment("explicit", "img:c", None),
            RegisterOptions::default(),
        )
        .await
        .expect("an automatic version after a string one");
    assert_eq!(automatic.record.version.as_str(), "1");
}

pub(crate) async fn first_lock_wins_under_concurrency(subject: &Subject) {
    let registration = subject
        .records
        .register_environment(
            environment("locked", "img:l", None),
            RegisterOptions::default(),
        )
        .await
        .expect("registering");
    let v = registration.record.version;
    let mut tasks = JoinSet::new();
    for n in 0..8 {
        let records = subject.records.clone();
        let v = v.clone();
        tasks.spawn(async move { records.set_lock("locked", &v, &lock(100 + n)).await });
    }
    let mut hashes = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let record = joined
            .expect("a lock task")
            .unwrap_or_else(|e| panic!("a concurrent lock write failed: {e}"));
        hashes.insert(record.lock_hash);
    }
    assert_eq!(
        hashes.len(),
        1,
        "every writer sees the one lock that won: {hashes:?}"
    );
    let stored = subject
        .records
        .get_lock("locked", &v)
        .await
        .expect("reading the lock")
        .expect("a lock is stored");
    assert!(
        hashes.contains(&stored.lock_hash),
        "the winner is the stored lock"
    );
}

pub(crate) async fn cursor_walks_survive_growth(subject: &Subject) {
    let records = &subject.records;
    let mut earlier = Vec::new();
    for n in 0..7 {
        let name = format!("walk-{}", n * 2);
        records
            .register_environment(
                environment(&name, "img:w", None),
                RegisterOptions::default(),
            )
            .await
            .expect("registering a walked environment");
        earlier.push(name);
    }
    let query = EnvironmentQuery {
        prefix: Some("walk-".to_string()),
        ..EnvironmentQuery::default()
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = records
            .list_environments(&query, cursor.as_deref(), 2)
            .await
            .expect("a page of environments");
        assert!(page.items.len() <= 2, "a page holds at most its limit");
        for item in &page.items {
            *seen.entry(item.name.clone()).or_default() += 1;
        }
        // The list grows meanwhile: names before and after the cursor, and new versions of
        // names already seen.
        pages += 1;
        records
            .register_environment(
                environment(&format!("walk-{}", 2 * pages + 1), "img:w", None),
                RegisterOptions::default(),
            )
            .await
            .expect("registering during the walk");
        records
            .register_environment(
                environment(
                    &format!("walk-{}", 2 * (pages - 1)),
                    &format!("img:{pages}"),
                    None,
                ),
                RegisterOptions::default(),
            )
            .await
            .expect("a new version during the walk");
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 50, "the walk ends");
    }
    for name in &earlier {
        assert_eq!(
            seen.get(name),
            Some(&1),
            "`{name}`, listed before the walk, is returned exactly once: {seen:?}"
        );
    }
    assert!(
        seen.values().all(|n| *n == 1),
        "no name is returned twice: {seen:?}"
    );

    // Runs, newest first: new runs are newer than the cursor and do not disturb it.
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = format!("walk-run-{n}");
        records
            .create_run(&subject.run(&id, "walk", "walk-0", 50_000 + i64::from(n % 3)))
            .await
            .expect("creating a walked run");
        ids.push(id);
    }
    let query = RunQuery {
        experiment: Some("walk".to_string()),
        status: None,
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    let mut added = 0;
    loop {
        let page = records
            .list_runs(&query, cursor.as_deref(), 3)
            .await
            .expect("a page of runs");
        for item in &page.items {
            *seen.entry(item.id.clone()).or_default() += 1;
        }
        added += 1;
        records
            .create_run(&subject.run(
                &format!("walk-run-new-{added}"),
                "walk",
                "walk-0",
                60_000 + added,
            ))
            .await
            .expect("creating a run during the walk");
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(added < 50, "the walk ends");
    }
    for id in &ids {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "run `{id}` is returned exactly once: {seen:?}"
        );
    }
    let bad = records
        .list_runs(&query, Some("not-a-cursor"), 3)
        .await
        .expect_err("a made-up cursor");
    assert!(matches!(bad, StoreError::InvalidCursor { .. }), "{bad}");
}

pub(crate) async fn unstored_blobs_are_refused(subject: &Subject) {
    let records = &subject.records;
    let registration = records
        .register_environment(
            environment("refused", "img:r", None),
            RegisterOptions::default(),
        )
        .await
        .expect("registering");
    let v = registration.record.version;
    let missing = absent_digest("build log");
    let build = BuildRecord {
        name: "refused".to_string(),
        version: v.clone(),
        lock_hash: None,
        status: "failed".to_string(),
        prefix: None,
        log_digest: Some(missing.clone()),
        error: Some("boom".to_string()),
        started_at: 1,
        finished_at: 2,
    };
    let error = records
        .record_build(&build)
        .await
        .expect_err("a build whose log is not stored");
    assert!(
        matches!(error, StoreError::MissingBlob { ref digest, .. } if *digest == missing),
        "{error}"
    );
    let builds = records
        .list_builds("refused", &v, None, 10)
        .await
        .expect("listing builds");
    assert!(builds.items.is_empty(), "a refused build is not stored");

    let mut refused_run = subject.run("refused-run", "refused", "refused", 70_000);
    refused_run.snapshot = Some(absent_digest("snapshot"));
    let error = records
        .create_run(&refused_run)
        .await
        .expect_err("a run whose snapshot is not stored");
    assert!(matches!(error, StoreError::MissingBlob { .. }), "{error}");
    let gone = records
        .get_run("refused-run")
        .await
        .expect_err("a refused run is not stored");
    assert!(matches!(gone, StoreError::NotFound { .. }), "{gone}");

    records
        .create_run(&subject.run("unfinished-run", "refused", "refused", 70_001))
        .await
        .expect("creating a run without a snapshot");
    let error = records
        .update_run(
            "unfinished-run",
            &RunUpdate::Finished {
                status: strata_store::COMPLETED.to_string(),
                exit_code: Some(0),
                error: None,
                outputs: Some(absent_digest("outputs")),
                logs: None,
            },
        )
        .await
        .expect_err("finishing with outputs that are not stored");
    assert!(matches!(error, StoreError::MissingBlob { .. }), "{error}");
    let error = records
        .update_run(
            "unfinished-run",
            &RunUpdate::Files {
                outputs: None,
                logs: Some(absent_digest("logs")),
            },
        )
        .await
        .expect_err("recording files that are not stored");
    assert!(matches!(error, StoreError::MissingBlob { .. }), "{error}");
    let still = records.get_run("unfinished-run").await.expect("the run");
    assert_eq!(
        still.status,
        strata_store::QUEUED,
        "a refused end changes nothing"
    );
    assert_eq!(still.outputs, None);

    let error = records
        .register_model(model("refused-model", &absent_digest("manifest"), None))
        .await
        .expect_err("a model whose manifest is not stored");
    assert!(matches!(error, StoreError::MissingBlob { .. }), "{error}");
    let gone = records
        .get_model("refused-model", None)
        .await
        .expect_err("a refused model is not stored");
    assert!(matches!(gone, StoreError::NotFound { .. }), "{gone}");
}

pub(crate) async fn blobs_are_verified_and_idempotent(subject: &Subject) {
    let blobs = &subject.blobs;
    let bytes = b"a blob stored twice";
    let digest = crate::fixtures::digest_of(bytes);
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), bytes).expect("writing the blob");
    blobs
        .put_file(&digest, file.path())
        .await
        .expect("a first put");
    blobs
        .put_file(&digest, file.path())
        .await
        .expect("a second put of the same blob is a success");
    assert_eq!(
        blobs.size(&digest).await.expect("the blob's size"),
        Some(bytes.len() as u64)
    );
    let absent = absent_digest("blob");
    assert_eq!(
        blobs
            .missing(&[digest.clone(), absent.clone()])
            .await
            .expect("asking which are missing"),
        vec![absent.clone()],
        "only the blob not stored is missing"
    );
    let copy = tempfile::tempdir().expect("a directory to download into");
    let destination = copy.path().join("copy");
    blobs
        .get_to_file(&digest, &destination)
        .await
        .expect("downloading the blob");
    assert_eq!(std::fs::read(&destination).expect("the download"), bytes);

    // Bytes that hash to something else are never stored under the claimed digest.
    let liar = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(liar.path(), b"not the claimed content").expect("writing");
    let claimed = absent_digest("claimed");
    let refused = blobs.put_file(&claimed, liar.path()).await;
    assert!(
        matches!(refused, Err(StoreError::CorruptBlob { .. })),
        "a put whose bytes do not match the digest is refused: {refused:?}"
    );
    assert_eq!(
        blobs.size(&claimed).await.expect("the claimed blob's size"),
        None,
        "nothing is stored under the claimed digest"
    );
    let invalid = blobs.size("not-a-digest").await;
    assert!(invalid.is_err(), "a blob is named by its SHA-256");
}

pub(crate) async fn curated_environments_are_seeded(subject: &Subject) {
    for (name, version, _) in strata_spec::curated_environments() {
        let record = subject
            .records
            .get_environment(&name, Some(&version))
            .await
            .unwrap_or_else(|e| panic!("a new workspace has curated `{name}:{version}`: {e}"));
        assert!(record.summary.curated, "`{name}` is marked curated");
    }
    let error = subject
        .records
        .register_environment(
            environment(strata_spec::DEFAULT_ENVIRONMENT, "img:mine", None),
            RegisterOptions::default(),
        )
        .await
        .expect_err("registering over a curated name");
    assert!(
        matches!(error, StoreError::Spec(_) | StoreError::Curated { .. }),
        "curated names are reserved: {error}"
    );
}

/// `If-Match` is compared where the change is written: of racers holding the same tag exactly
/// one wins, whatever process or connection each is in, and the rest are refused.
pub(crate) async fn if_match_has_one_winner(subject: &Subject) {
    let records = &subject.records;
    let run = subject.run("if-match-run", "if-match", "if-match", 80_000);
    records.create_run(&run).await.expect("creating a run");
    let queued = records.get_run(&run.id).await.expect("reading the run");
    let stale = records
        .update_run_if_match(&run.id, &RunUpdate::Preparing, "W/\"stale\"")
        .await
        .expect_err("a stale tag is refused");
    assert!(
        matches!(stale, StoreError::PreconditionFailed { .. }),
        "{stale:?}"
    );
    assert_eq!(
        records.get_run(&run.id).await.expect("the run").status,
        queued.status,
        "a refused change changes nothing"
    );
    let tag = state_tag(&queued);
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let records = records.clone();
        let (id, tag) = (run.id.clone(), tag.clone());
        tasks.spawn(async move {
            records
                .update_run_if_match(&id, &RunUpdate::Preparing, &tag)
                .await
        });
    }
    let (mut won, mut refused) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("an update task") {
            Ok(_) => won += 1,
            Err(StoreError::PreconditionFailed { .. }) => refused += 1,
            Err(error) => panic!("a conditional run update failed otherwise: {error}"),
        }
    }
    assert_eq!(
        (won, refused),
        (1, 7),
        "one run update wins the tag, the rest get 412"
    );
    let preparing = records.get_run(&run.id).await.expect("the run");
    records
        .update_run_if_match(&run.id, &RunUpdate::Running, &state_tag(&preparing))
        .await
        .expect("the current tag is accepted");

    let model = model("if-match-model", &absent_digest("if-match"), None);
    let mut service = service("if-match-service", "Running", &model);
    let absent = records
        .put_service_if_match(&service, "*")
        .await
        .expect_err("`If-Match` on a service that does not exist");
    assert!(
        matches!(absent, StoreError::PreconditionFailed { .. }),
        "{absent:?}"
    );
    records
        .put_service(&service)
        .await
        .expect("recording the service");
    let tag = state_tag(
        &records
            .get_service(&service.name)
            .await
            .expect("reading the service"),
    );
    let mut tasks = JoinSet::new();
    for port in 0..8u16 {
        let records = records.clone();
        let tag = tag.clone();
        let mut racer = service.clone();
        racer.port = 9000 + port;
        tasks.spawn(async move { records.put_service_if_match(&racer, &tag).await });
    }
    let (mut won, mut refused) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("a service task") {
            Ok(()) => won += 1,
            Err(StoreError::PreconditionFailed { .. }) => refused += 1,
            Err(error) => panic!("a conditional service put failed otherwise: {error}"),
        }
    }
    assert_eq!(
        (won, refused),
        (1, 7),
        "one service put wins the tag, the rest get 412"
    );
    service.port = 9100;
    records
        .put_service_if_match(&service, "*")
        .await
        .expect("`*` matches any existing service");
    assert_eq!(
        records
            .get_service(&service.name)
            .await
            .expect("the service")
            .port,
        9100
    );
}
