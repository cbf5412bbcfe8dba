//! The story every store must tell the same way: register → lock → build → run → model →
//! service.

use strata_store::store::{EnvironmentQuery, RunQuery, RunUpdate, collect_all};
use strata_store::{BuildRecord, Metric, RegisterOptions, StoreError};

use crate::fixtures::{Subject, environment, lock, model, service, version};

/// The image the story's run is prepared in, as a container run's supervisor reports it.
const STORY_IMAGE: &str = "localhost/strata/env_story:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub(crate) async fn story(subject: &Subject) {
    let records = &subject.records;

    // Register.
    let registration = records
        .register_environment(
            environment("story", "python:3.11-slim", None),
            RegisterOptions::default(),
        )
        .await
        .expect("registering a new environment");
    assert!(registration.created, "a new definition creates a version");
    assert_eq!(
        registration.record.version.as_str(),
        "1",
        "the first version is 1"
    );
    let latest = records
        .get_environment("story", None)
        .await
        .expect("getting the latest version");
    assert_eq!(latest.version.as_str(), "1");
    assert_eq!(latest.spec_hash, registration.record.spec_hash);
    assert_eq!(
        latest.environment.docker.base_image.as_deref(),
        Some("python:3.11-slim"),
        "the definition comes back as registered"
    );
    let missing = records
        .get_environment("story", Some(&version("9")))
        .await
        .expect_err("a version that does not exist");
    assert!(
        matches!(missing, StoreError::VersionNotFound { ref latest, .. } if latest.as_str() == "1"),
        "a missing version names the latest: {missing}"
    );
    let unknown = records
        .get_environment("no-such-environment", None)
        .await
        .expect_err("an environment that does not exist");
    assert!(matches!(unknown, StoreError::NotFound { .. }), "{unknown}");
    let listed = collect_all(|cursor| {
        let query = EnvironmentQuery {
            name: Some("story".to_string()),
            ..EnvironmentQuery::default()
        };
        let records = records.clone();
        async move {
            records
                .list_environments(&query, cursor.as_deref(), 10)
                .await
        }
    })
    .await
    .expect("listing environments");
    assert_eq!(
        listed.len(),
        1,
        "one version of `story` is listed: {listed:?}"
    );
    assert_eq!(listed[0].spec_hash, registration.record.spec_hash.as_str());

    // Lock.
    let v1 = version("1");
    assert_eq!(
        records
            .get_lock("story", &v1)
            .await
            .expect("reading no lock"),
        None,
        "a new version has no lock"
    );
    let first = records
        .set_lock("story", &v1, &lock(1))
        .await
        .expect("storing a lock");
    assert_eq!(first.lock_hash, lock(1).hash());
    assert_eq!(first.lock, lock(1), "the lock comes back as stored");
    let second = records
        .set_lock("story", &v1, &lock(2))
        .await
        .expect("storing a second lock");
    assert_eq!(second, first, "the first lock of a version wins");
    let no_environment = records
        .set_lock("no-such-environment", &v1, &lock(1))
        .await
        .expect_err("a lock of an environment that does not exist");
    assert!(
        matches!(no_environment, StoreError::NotFound { .. }),
        "{no_environment}"
    );

    // Build, its log uploaded first.
    let log = subject.upload(b"build log: solved 12 packages\n").await;
    let build = BuildRecord {
        name: "story".to_string(),
        version: v1.clone(),
        lock_hash: Some(first.lock_hash.clone()),
        status: "succeeded".to_string(),
        prefix: Some("/cache/envs/abc".to_string()),
        log_digest: Some(log),
        error: None,
        started_at: 1_000,
        finished_at: 2_000,
    };
    records
        .record_build(&build)
        .await
        .expect("recording a build");
    let builds = records
        .list_builds("story", &v1, None, 10)
        .await
        .expect("listing builds");
    assert_eq!(
        builds.items,
        vec![build.clone()],
        "the build comes back as recorded"
    );

    // Run, with metrics, tags, log appends and its end.
    let snapshot = subject.upload(b"snapshot manifest of the source").await;
    let mut created = subject.run("story-run", "exp", "story", 10_000);
    created.snapshot = Some(snapshot.clone());
    let answered = records.create_run(&created).await.expect("creating a run");
    let queued = records.get_run("story-run").await.expect("getting a run");
    assert_eq!(answered, queued, "a new run is answered as it is stored");
    assert_eq!(queued.status, strata_store::QUEUED);
    assert_eq!(queued.snapshot.as_deref(), Some(snapshot.as_str()));
    assert_eq!(queued.arguments, created.arguments);
    let preparing = records
        .update_run("story-run", &RunUpdate::Preparing)
        .await
        .expect("preparing");
    assert_eq!(preparing.status, strata_store::PREPARING);
    assert!(preparing.preparing_at.is_some());
    let prepared = records
        .update_run(
            "story-run",
            &RunUpdate::Prepared {
                lock_hash: first.lock_hash.clone(),
                image: Some(STORY_IMAGE.to_string()),
            },
        )
        .await
        .expect("prepared");
    assert_eq!(
        (prepared.lock_hash.as_deref(), prepared.image.as_deref()),
        (Some(first.lock_hash.as_str()), Some(STORY_IMAGE))
    );
    let running = records
        .update_run("story-run", &RunUpdate::Running)
        .await
        .expect("running");
    assert_eq!(running.status, strata_store::RUNNING);
    assert!(running.started_at.is_some());

    // The run's job on a scheduler: none, then reported, then a later state merged in.
    assert_eq!(
        records.get_run_job("story-run").await.expect("no job yet"),
        None
    );
    let mut job = strata_store::RunJob {
        run_id: "story-run".to_string(),
        target: "hpc".to_string(),
        job_id: Some("4242".to_string()),
        resources: serde_json::json!({"cpus": 2, "memory": "1G"}),
        partition: Some("debug".to_string()),
        node: Some("node-1".to_string()),
        state: "RUNNING".to_string(),
        reason: None,
        updated_at: 20_000,
    };
    records.set_run_job(&job).await.expect("recording a job");
    assert_eq!(
        records.get_run_job("story-run").await.expect("a job"),
        Some(job.clone()),
        "a job reads back as recorded"
    );
    let later = strata_store::RunJob {
        node: None,
        state: "COMPLETING".to_string(),
        updated_at: 21_000,
        ..job.clone()
    };
    records.set_run_job(&later).await.expect("a later state");
    job.state = later.state.clone();
    job.updated_at = later.updated_at;
    assert_eq!(
        records.get_run_job("story-run").await.expect("a job"),
        Some(job),
        "a state that names no node keeps the node recorded"
    );
    let orphan = strata_store::RunJob {
        run_id: "no-such-run".to_string(),
        ..later
    };
    assert!(
        matches!(
            records.set_run_job(&orphan).await,
            Err(StoreError::NotFound { .. })
        ),
        "a job of no run is refused"
    );

    let metric = |name: &str, value: f64, at: i64| Metric {
        name: name.to_string(),
        kind: "scalar".to_string(),
        value: serde_json::json!(value),
        logged_at: at,
    };
    let batch_one = vec![metric("loss", 0.9, 1), metric("accuracy", 0.5, 1)];
    let batch_two = vec![metric("loss", 0.4, 2)];
    records
        .add_metrics("story-run", &batch_one)
        .await
        .expect("adding metrics");
    records
        .add_metrics("story-run", &batch_two)
        .await
        .expect("adding more metrics");
    let metrics = records
        .run_metrics("story-run")
        .await
        .expect("reading metrics");
    assert_eq!(
        metrics,
        [batch_one, batch_two].concat(),
        "metrics come back in the order logged"
    );
    let no_run = records
        .add_metrics("no-such-run", &[metric("loss", 1.0, 1)])
        .await
        .expect_err("metrics of a run that does not exist");
    assert!(matches!(no_run, StoreError::NotFound { .. }), "{no_run}");

    records
        .set_run_tag("story-run", "team", Some("vision"))
        .await
        .expect("tagging");
    records
        .set_run_tag("story-run", "baseline", None)
        .await
        .expect("tagging without a value");
    records
        .set_run_tag("story-run", "team", Some("nlp"))
        .await
        .expect("re-tagging");
    assert_eq!(
        records.run_tags("story-run").await.expect("reading tags"),
        vec![
            ("baseline".to_string(), None),
            ("team".to_string(), Some("nlp".to_string()))
        ],
        "tags sorted by key, the last value of each"
    );

    let first_line = "epoch 1: loss 0.9\n";
    let second_line = "épöch 2: loss 0.4 ✓\n";
    let end_one = records
        .append_run_log("story-run", 0, first_line)
        .await
        .expect("appending to the log");
    assert_eq!(end_one, first_line.len() as u64);
    let end_two = records
        .append_run_log("story-run", end_one, second_line)
        .await
        .expect("appending again");
    assert_eq!(end_two, (first_line.len() + second_line.len()) as u64);
    assert_eq!(
        records
            .append_run_log("story-run", 0, first_line)
            .await
            .expect("a retried append of text already there"),
        end_two,
        "a retried append returns the log's length"
    );
    let gap = records
        .append_run_log("story-run", end_two + 5, "late\n")
        .await
        .expect_err("an append past the end");
    assert!(
        matches!(gap, StoreError::LogOffset { length, .. } if length == end_two),
        "{gap}"
    );
    let overwrite = records
        .append_run_log("story-run", 0, "different text\n")
        .await
        .expect_err("an append over different text");
    assert!(
        matches!(overwrite, StoreError::LogOffset { .. }),
        "{overwrite}"
    );
    let whole = records
        .read_run_log("story-run", 0, 1 << 20)
        .await
        .expect("reading the log");
    assert_eq!(whole.text, format!("{first_line}{second_line}"));
    assert_eq!((whole.offset, whole.next_offset), (0, end_two));
    // `é` is two bytes: a read ending inside it stops before it.
    let cut = records
        .read_run_log("story-run", end_one, 1)
        .await
        .expect("reading one byte");
    assert_eq!(
        (cut.text.as_str(), cut.offset, cut.next_offset),
        ("", end_one, end_one),
        "a read never splits a character"
    );
    let part = records
        .read_run_log("story-run", end_one, 3)
        .await
        .expect("reading three bytes");
    assert_eq!((part.text.as_str(), part.next_offset), ("ép", end_one + 3));
    let past = records
        .read_run_log("story-run", end_two + 100, 10)
        .await
        .expect("reading past the end");
    assert_eq!(
        (past.text.as_str(), past.offset, past.next_offset),
        ("", end_two, end_two)
    );

    let outputs = subject.upload(b"outputs manifest").await;
    let logs = subject.upload(b"logs manifest").await;
    let uploads = subject.upload(b"uploads so far").await;
    let with_files = records
        .update_run(
            "story-run",
            &RunUpdate::Files {
                outputs: Some(uploads.clone()),
                logs: None,
            },
        )
        .await
        .expect("recording files while it runs");
    assert_eq!(with_files.outputs.as_deref(), Some(uploads.as_str()));
    assert_eq!(with_files.logs, None, "`None` keeps what is recorded");
    assert_eq!(with_files.status, strata_store::RUNNING);
    let bad_status = records
        .update_run(
            "story-run",
            &RunUpdate::Finished {
                status: "Exploded".to_string(),
                exit_code: None,
                error: None,
                outputs: None,
                logs: None,
            },
        )
        .await
        .expect_err("an unknown end state");
    assert!(
        matches!(bad_status, StoreError::InvalidReference { .. }),
        "{bad_status}"
    );
    let finished = records
        .update_run(
            "story-run",
            &RunUpdate::Finished {
                status: strata_store::COMPLETED.to_string(),
                exit_code: Some(0),
                error: None,
                outputs: Some(outputs.clone()),
                logs: Some(logs.clone()),
            },
        )
        .await
        .expect("finishing");
    assert_eq!(finished.status, strata_store::COMPLETED);
    assert_eq!(finished.exit_code, Some(0));
    assert_eq!(finished.outputs.as_deref(), Some(outputs.as_str()));
    assert_eq!(finished.logs.as_deref(), Some(logs.as_str()));
    assert!(finished.finished_at.is_some());
    let late_files = records
        .update_run(
            "story-run",
            &RunUpdate::Files {
                outputs: Some(uploads.clone()),
                logs: None,
            },
        )
        .await
        .expect("late files");
    assert_eq!(
        late_files.outputs.as_deref(),
        Some(outputs.as_str()),
        "an ended run keeps the files it ended with"
    );
    let late = records
        .update_run("story-run", &RunUpdate::Running)
        .await
        .expect("a late state update");
    assert_eq!(
        late.status,
        strata_store::COMPLETED,
        "a finished run stays finished"
    );
    let canceled = records
        .update_run("story-run", &RunUpdate::CancelRequested)
        .await
        .expect("a cancel request");
    assert!(canceled.cancel_requested);
    let by_experiment = records
        .list_runs(
            &RunQuery {
                experiment: Some("exp".to_string()),
                status: None,
            },
            None,
            10,
        )
        .await
        .expect("listing runs");
    assert_eq!(
        by_experiment
            .items
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["story-run"]
    );
    let other = records
        .list_runs(
            &RunQuery {
                experiment: Some("other".to_string()),
                status: None,
            },
            None,
            10,
        )
        .await
        .expect("listing another experiment");
    assert!(other.items.is_empty(), "runs filter by experiment");
    let duplicate = records.create_run(&created).await;
    assert!(duplicate.is_err(), "a run id is used once");

    // Model, twice: versions count up.
    let manifest = subject.upload(b"model manifest").await;
    let one = records
        .register_model(model("story-model", &manifest, Some("story-run")))
        .await
        .expect("registering a model");
    assert_eq!(one.version, 1);
    let two = records
        .register_model(model("story-model", &manifest, None))
        .await
        .expect("registering a model again");
    assert_eq!(two.version, 2);
    let latest_model = records
        .get_model("story-model", None)
        .await
        .expect("getting the latest model");
    assert_eq!(latest_model, two);
    assert_eq!(
        records
            .get_model("story-model", Some(1))
            .await
            .expect("getting model 1"),
        one
    );
    let no_model = records
        .get_model("story-model", Some(7))
        .await
        .expect_err("a model version that does not exist");
    assert!(
        matches!(no_model, StoreError::NotFound { .. }),
        "{no_model}"
    );
    let bad_name = records
        .register_model(model("-bad name", &manifest, None))
        .await
        .expect_err("an invalid model name");
    assert!(
        matches!(bad_name, StoreError::InvalidModelName { .. }),
        "{bad_name}"
    );
    let latest_models = records
        .list_models(false, None, 10)
        .await
        .expect("listing models");
    assert_eq!(latest_models.items, vec![two.clone()]);
    let all_models = records
        .list_models(true, None, 10)
        .await
        .expect("listing every model version");
    assert_eq!(all_models.items, vec![one, two.clone()]);

    // Service: recorded, then its new state.
    let deploying = service("story-svc", strata_store::DEPLOYING, &two);
    records
        .put_service(&deploying)
        .await
        .expect("recording a service");
    let stored = records
        .get_service("story-svc")
        .await
        .expect("getting a service");
    assert_eq!(stored.state, strata_store::DEPLOYING);
    assert_eq!(stored.models, deploying.models);
    assert_eq!(stored.config, deploying.config);
    let mut running_service = deploying.clone();
    running_service.state = strata_store::SERVICE_RUNNING.to_string();
    running_service.port = 8124;
    records
        .put_service(&running_service)
        .await
        .expect("recording a service's new state");
    let updated = records
        .get_service("story-svc")
        .await
        .expect("getting it again");
    assert_eq!(updated.state, strata_store::SERVICE_RUNNING);
    assert_eq!(updated.port, 8124);
    assert_eq!(
        updated.created_at, stored.created_at,
        "an update keeps the creation time"
    );
    let services = records
        .list_services(None, 10)
        .await
        .expect("listing services");
    assert_eq!(
        services
            .items
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["story-svc"]
    );
    let no_service = records
        .get_service("no-such-service")
        .await
        .expect_err("a service that does not exist");
    assert!(
        matches!(no_service, StoreError::NotFound { .. }),
        "{no_service}"
    );
}
