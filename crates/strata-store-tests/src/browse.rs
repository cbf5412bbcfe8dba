//! The pages' reads ([`BrowseStore`]) answer the same on every store that has them: windows,
//! searches (wildcards literal, ASCII case ignored), sorts and what points at a version.

use std::collections::BTreeSet;
use std::sync::Arc;

use strata_store::store::{BrowseStore, RunUpdate};
use strata_store::{
    BuildRecord, Metric, PageQuery, RegisterOptions, RunFilter, RunSort, StoreError,
};

use crate::fixtures::{Subject, environment, lock, model, service, version};

fn window(search: Option<&str>, offset: u64, limit: u64) -> PageQuery {
    PageQuery {
        search: search.map(str::to_string),
        offset,
        limit,
    }
}

fn all() -> PageQuery {
    window(None, 0, 100)
}

fn scalar(name: &str, value: f64, at: i64) -> Metric {
    Metric {
        name: name.to_string(),
        kind: "scalar".to_string(),
        value: serde_json::json!(value),
        logged_at: at,
    }
}

async fn finish(subject: &Subject, id: &str, status: &str) {
    let records = &subject.records;
    records
        .update_run(id, &RunUpdate::Running)
        .await
        .expect("starting a run");
    records
        .update_run(
            id,
            &RunUpdate::Finished {
                status: status.to_string(),
                exit_code: Some(i64::from(status != strata_store::COMPLETED)),
                error: None,
                outputs: None,
                logs: None,
            },
        )
        .await
        .expect("finishing a run");
}

/// Fills an empty workspace, then reads it back through every [`BrowseStore`] query.
pub(crate) async fn pages_read_the_same(subject: &Subject, pages: &Arc<dyn BrowseStore>) {
    let records = &subject.records;
    for (name, image) in [
        ("alpha", "python:3.10-slim"),
        ("alpha", "python:3.11-slim"),
        ("beta", "python:3.11-slim"),
        ("gamma_1", "python:3.11-slim"),
        ("gammaX1", "python:3.11-slim"),
    ] {
        records
            .register_environment(environment(name, image, None), RegisterOptions::default())
            .await
            .expect("registering");
    }
    let v2 = version("2");
    let alpha_lock = lock(41);
    records
        .set_lock("alpha", &v2, &alpha_lock)
        .await
        .expect("locking alpha:2");
    let log = subject.upload(b"build log of alpha:2\n").await;
    for (status, started_at) in [("failed", 1_000), ("succeeded", 3_000)] {
        records
            .record_build(&BuildRecord {
                name: "alpha".to_string(),
                version: v2.clone(),
                lock_hash: None,
                status: status.to_string(),
                prefix: None,
                log_digest: Some(log.clone()),
                error: None,
                started_at,
                finished_at: started_at + 500,
            })
            .await
            .expect("recording a build");
    }

    // Runs of alpha:2: three in one experiment, one in another.
    for (id, experiment, queued_at) in [
        ("r1", "exp-α", 10_000),
        ("r2", "exp-α", 20_000),
        ("r3", "exp-α", 30_000),
        ("r4", "other", 40_000),
    ] {
        let mut run = subject.run(id, experiment, "alpha", queued_at);
        run.env_version = v2.clone();
        records.create_run(&run).await.expect("creating a run");
    }
    records
        .add_metrics("r1", &[scalar("loss", 0.5, 1), scalar("loss", 0.3, 2)])
        .await
        .expect("metrics of r1");
    records
        .add_metrics("r2", &[scalar("loss", 0.9, 1)])
        .await
        .expect("metrics of r2");
    records
        .add_metrics("r3", &[scalar("loss", 0.1, 1)])
        .await
        .expect("metrics of r3, still running");
    records
        .set_run_tag("r1", "note", Some("the needle_run"))
        .await
        .expect("tagging r1");
    finish(subject, "r1", strata_store::COMPLETED).await;
    finish(subject, "r2", strata_store::FAILED).await;

    let manifest = subject.upload(b"model manifest").await;
    let trained = |name: &str, run: Option<&str>| {
        let mut record = model(name, &manifest, run);
        record.env_name = Some("alpha".to_string());
        record.env_version = Some(v2.clone());
        record
    };
    records
        .register_model(trained("m1", Some("r1")))
        .await
        .expect("registering m1:1");
    let m1 = records
        .register_model(trained("m1", Some("r1")))
        .await
        .expect("registering m1:2");
    records
        .register_model(trained("m2", None))
        .await
        .expect("registering m2:1");
    let mut deployed = service("svc", strata_store::SERVICE_RUNNING, &m1);
    deployed.env_name = "alpha".to_string();
    deployed.env_version = v2.clone();
    records.put_service(&deployed).await.expect("a service");

    // Environments: latest of each name, windows, literal wildcards, case.
    let first = pages
        .environment_page(&window(None, 0, 2))
        .await
        .expect("an environment page");
    let names: Vec<_> = first.items.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.len() == 2 && first.has_more,
        "a window of 2 with more after it: {names:?}"
    );
    let alpha = pages
        .environment_page(&window(Some("ALPHA"), 0, 10))
        .await
        .expect("searching environments");
    assert_eq!(
        alpha
            .items
            .iter()
            .map(|e| (e.name.as_str(), e.version.as_str()))
            .collect::<Vec<_>>(),
        [("alpha", "2")],
        "the latest version, found ignoring ASCII case"
    );
    let gamma = pages
        .environment_page(&window(Some("gamma_"), 0, 10))
        .await
        .expect("searching with a wildcard character");
    assert_eq!(
        gamma
            .items
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["gamma_1"],
        "`_` in a search is a character, not a wildcard"
    );
    let versions = pages
        .environment_version_page("alpha", &all())
        .await
        .expect("versions");
    assert_eq!(
        versions
            .items
            .iter()
            .map(|e| e.version.as_str())
            .collect::<Vec<_>>(),
        ["2", "1"],
        "versions newest first"
    );
    let only_one = pages
        .environment_version_page("alpha", &window(Some("1"), 0, 10))
        .await
        .expect("searching versions");
    assert_eq!(only_one.items.len(), 1, "the search matches the version");

    // Builds.
    let last = pages
        .last_build("alpha", &v2)
        .await
        .expect("the last build")
        .expect("alpha:2 was built");
    assert_eq!(last.status, "succeeded", "the newest build is the last");
    assert!(
        pages
            .last_build("alpha", &version("1"))
            .await
            .expect("no build")
            .is_none(),
        "alpha:1 was never built"
    );
    let builds = pages
        .builds_of_version("alpha", &v2, 10)
        .await
        .expect("builds");
    assert_eq!(
        builds
            .iter()
            .map(|b| b.build.status.as_str())
            .collect::<Vec<_>>(),
        ["succeeded", "failed"],
        "builds newest first"
    );
    let by_id = pages
        .build_by_id(builds[1].id)
        .await
        .expect("a build by id")
        .expect("the build exists");
    assert_eq!(by_id.build, builds[1].build);
    assert!(
        pages
            .build_by_id(builds[0].id + 1_000_000)
            .await
            .expect("an unknown id")
            .is_none()
    );

    // What uses alpha:2.
    let runs = pages
        .runs_of_version("alpha", &v2, 10)
        .await
        .expect("runs of a version");
    assert_eq!(
        runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r4", "r3", "r2", "r1"],
        "runs newest first"
    );
    let models: BTreeSet<_> = pages
        .models_of_version("alpha", &v2, 10)
        .await
        .expect("models of a version")
        .into_iter()
        .map(|m| (m.name, m.version))
        .collect();
    assert_eq!(
        models,
        BTreeSet::from([
            ("m1".to_string(), 1),
            ("m1".to_string(), 2),
            ("m2".to_string(), 1)
        ])
    );
    let services = pages
        .services_of_version("alpha", &v2, 10)
        .await
        .expect("services of a version");
    assert_eq!(
        services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["svc"]
    );
    assert!(
        pages
            .services_of_version("alpha", &version("1"), 10)
            .await
            .expect("services of another version")
            .is_empty()
    );

    // Experiments and runs.
    let experiments = pages.experiment_page(&all()).await.expect("experiments");
    assert_eq!(
        experiments
            .items
            .iter()
            .map(|e| (e.name.as_str(), e.runs, e.last_queued_at))
            .collect::<Vec<_>>(),
        [("exp-α", 3, 30_000), ("other", 1, 40_000)],
        "experiments by name, with their run counts"
    );
    let other = pages
        .experiment_page(&window(Some("OTH"), 0, 10))
        .await
        .expect("searching experiments");
    assert_eq!(other.items.len(), 1);
    let run_ids = |filter: RunFilter, query: PageQuery| {
        let pages = Arc::clone(pages);
        async move {
            let page = pages.run_page(&filter, &query).await.expect("a run page");
            (
                page.items.into_iter().map(|r| r.id).collect::<Vec<_>>(),
                page.has_more,
            )
        }
    };
    let of = |sort: RunSort, descending: bool, status: Option<&str>| RunFilter {
        experiment: "exp-α".to_string(),
        status: status.map(str::to_string),
        sort,
        descending,
    };
    assert_eq!(
        run_ids(of(RunSort::Queued, true, None), all()).await.0,
        ["r3", "r2", "r1"],
        "newest first"
    );
    assert_eq!(
        run_ids(of(RunSort::Queued, true, None), window(None, 0, 2)).await,
        (vec!["r3".to_string(), "r2".to_string()], true),
        "a window says more follow"
    );
    assert_eq!(
        run_ids(of(RunSort::Queued, true, None), window(None, 2, 2)).await,
        (vec!["r1".to_string()], false)
    );
    assert_eq!(
        run_ids(of(RunSort::Queued, true, Some(strata_store::FAILED)), all())
            .await
            .0,
        ["r2"],
        "filtered by status"
    );
    assert_eq!(
        run_ids(of(RunSort::Metric("loss".to_string()), false, None), all())
            .await
            .0,
        ["r1", "r2", "r3"],
        "by the last logged loss of finished runs, ascending; r3, still going, after them"
    );
    assert_eq!(
        run_ids(of(RunSort::Metric("loss".to_string()), true, None), all())
            .await
            .0,
        ["r2", "r1", "r3"],
        "by the last logged loss, descending, runs without it still last"
    );
    assert_eq!(
        run_ids(
            of(RunSort::Metric("loss".to_string()), false, None),
            window(None, 1, 1)
        )
        .await,
        (vec!["r2".to_string()], true),
        "a window inside the runs with the metric"
    );
    assert_eq!(
        run_ids(
            of(RunSort::Metric("loss".to_string()), false, None),
            window(None, 1, 5)
        )
        .await,
        (vec!["r2".to_string(), "r3".to_string()], false),
        "a window across the runs with the metric and those without"
    );
    assert_eq!(
        run_ids(
            of(RunSort::Metric("loss".to_string()), false, None),
            window(None, 2, 5)
        )
        .await,
        (vec!["r3".to_string()], false),
        "a window past the runs with the metric"
    );
    assert_eq!(
        run_ids(
            of(
                RunSort::Metric("loss".to_string()),
                false,
                Some(strata_store::FAILED)
            ),
            all()
        )
        .await
        .0,
        ["r2"],
        "sorted by a metric and filtered by status"
    );
    assert_eq!(
        run_ids(
            of(RunSort::Queued, true, None),
            window(Some("NEEDLE_"), 0, 10)
        )
        .await
        .0,
        ["r1"],
        "a search finds tag values"
    );
    let durations = run_ids(of(RunSort::Duration, true, None), all()).await.0;
    assert_eq!(
        durations.last().map(String::as_str),
        Some("r3"),
        "an unfinished run has no duration and sorts last: {durations:?}"
    );
    let last_values = pages
        .last_scalar_metrics("r1")
        .await
        .expect("last metric values");
    assert_eq!(last_values, [("loss".to_string(), 0.3)]);
    assert_eq!(
        pages.last_scalar_metrics("r3").await.expect("live values"),
        [("loss".to_string(), 0.1)],
        "a running run's values are live"
    );
    records
        .add_metrics("r1", &[scalar("loss", 0.95, 3)])
        .await
        .expect("a batch after the end");
    assert_eq!(
        run_ids(of(RunSort::Metric("loss".to_string()), false, None), all())
            .await
            .0,
        ["r2", "r1", "r3"],
        "a batch after a run ended moves its last value"
    );

    // Models and services.
    let models = pages.model_page(&all()).await.expect("models");
    assert_eq!(
        models
            .items
            .iter()
            .map(|m| (m.name.as_str(), m.version))
            .collect::<Vec<_>>(),
        [("m1", 2), ("m2", 1)],
        "the latest version of each model"
    );
    let m2 = pages
        .model_page(&window(Some("M2"), 0, 10))
        .await
        .expect("searching models");
    assert_eq!(m2.items.len(), 1);
    let m1_versions = pages
        .model_version_page("m1", &all())
        .await
        .expect("model versions");
    assert_eq!(
        m1_versions
            .items
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>(),
        [2, 1]
    );
    let of_run = pages.models_of_run("r1").await.expect("models of a run");
    assert_eq!(
        of_run
            .iter()
            .map(|m| (m.name.as_str(), m.version))
            .collect::<Vec<_>>(),
        [("m1", 1), ("m1", 2)]
    );
    let services = pages
        .service_page(&window(Some("SV"), 0, 10))
        .await
        .expect("services");
    assert_eq!(services.items.len(), 1);
    let missing = pages
        .get_run("no-such-run")
        .await
        .expect_err("an unknown run");
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
}
