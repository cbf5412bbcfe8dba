//! The reads of what is inside environments: the index of locked packages (names normalised
//! per ecosystem, what used each version) and the latest version of every environment with
//! its lock, each walked page by page.

use strata_spec::{
    CondaLockedPackage, EnvironmentVersion, Lock, PypiLockedPackage, PypiSource, UserManagedLock,
};
use strata_store::store::{CursorPage, collect_all};
use strata_store::{CONDA, DELETED, PYPI, PackageUse, RegisterOptions, SERVICE_RUNNING};

use crate::fixtures::{Subject, environment, lock, model, service};

fn pypi(name: &str, version: &str) -> PypiLockedPackage {
    PypiLockedPackage {
        name: name.to_string(),
        version: version.to_string(),
        source: PypiSource::Index {
            url: "https://pypi.org/simple".to_string(),
        },
        hashes: Vec::new(),
    }
}

fn conda(name: &str, version: &str, build: &str) -> CondaLockedPackage {
    CondaLockedPackage {
        name: name.to_string(),
        version: version.to_string(),
        build: build.to_string(),
        channel: "conda-forge".to_string(),
        subdir: "linux-64".to_string(),
        url: format!("https://conda.invalid/{name}-{version}-{build}.conda"),
        sha256: None,
        md5: None,
        depends: Vec::new(),
        build_number: None,
        noarch: None,
    }
}

fn with(n: usize, change: impl FnOnce(&mut Lock)) -> Lock {
    let mut lock = lock(n);
    change(&mut lock);
    lock
}

/// `(environment, locked version, build)` of each use, in order.
fn found(uses: &[PackageUse]) -> Vec<(String, String, Option<String>)> {
    uses.iter()
        .map(|usage| {
            (
                format!("{}:{}", usage.env_name, usage.env_version),
                usage.version.clone(),
                usage.build.clone(),
            )
        })
        .collect()
}

pub(crate) async fn locked_packages_are_found_with_their_users(subject: &Subject) {
    let records = &subject.records;
    let register = |name: &'static str, image: &'static str, anonymous: bool| async move {
        records
            .register_environment(
                environment(name, image, None),
                RegisterOptions { anonymous },
            )
            .await
            .expect("registering")
            .record
            .version
    };
    let a1 = register("inv-a", "img:1", false).await;
    let a2 = register("inv-a", "img:2", false).await;
    let b1 = register("inv-b", "img:1", false).await;
    let anonymous = register("inv-anonymous", "img:1", true).await;
    register("inv-unlocked", "img:1", false).await;
    let locks = [
        (
            "inv-a",
            &a1,
            with(9001, |lock| {
                lock.pypi = vec![pypi("pillow-simd", "9.0.0"), pypi("numpy", "1.21.0")];
            }),
        ),
        (
            "inv-a",
            &a2,
            with(9002, |lock| {
                lock.pypi = vec![pypi("numpy", "1.26.0")];
                lock.conda = vec![conda("OpenSSL", "3.0.0", "h1")];
            }),
        ),
        (
            "inv-b",
            &b1,
            with(9003, |lock| {
                lock.user_managed = Some(UserManagedLock {
                    interpreter: "/usr/bin/python3".to_string(),
                    python_version: "3.11.2".to_string(),
                    freeze: vec![
                        "Jinja2==3.1.2".to_string(),
                        "NumPy == 1.20.0".to_string(),
                        "-e git+https://example.invalid/x.git#egg=x".to_string(),
                    ],
                });
            }),
        ),
        (
            "inv-anonymous",
            &anonymous,
            with(9004, |lock| lock.pypi = vec![pypi("numpy", "1.19.0")]),
        ),
    ];
    for (name, version, lock) in &locks {
        let stored = records
            .set_lock(name, version, lock)
            .await
            .expect("storing a lock");
        assert!(
            stored.locked_at > 0,
            "a stored lock says when it was stored"
        );
    }

    // What used inv-a:1: a run, a model from it, a running service and a deleted one.
    // Two runs: the one created second was queued first, and is listed first.
    for (id, queued_at) in [("inv-run", 5_000), ("inv-early", 4_000)] {
        let mut run = subject.run(id, "inv", "inv-a", queued_at);
        run.env_version = a1.clone();
        records.create_run(&run).await.expect("creating a run");
    }
    let manifest = subject.upload(b"inventory model manifest").await;
    let mut registered = model("inv-model", &manifest, Some("inv-run"));
    registered.env_name = Some("inv-a".to_string());
    registered.env_version = Some(a1.clone());
    let registered = records
        .register_model(registered)
        .await
        .expect("registering a model");
    for (name, state) in [
        ("inv-svc", SERVICE_RUNNING),
        ("inv-gone", DELETED),
        ("inv-another", SERVICE_RUNNING),
    ] {
        let mut deployed = service(name, state, &registered);
        deployed.env_name = "inv-a".to_string();
        deployed.env_version = a1.clone();
        records
            .put_service(&deployed)
            .await
            .expect("recording a service");
    }

    // Walked one item a page, so every page boundary is crossed.
    let walk = |ecosystem: &'static str, package: &'static str| async move {
        collect_all(|cursor| async move {
            records
                .package_uses(ecosystem, package, cursor.as_deref(), 1)
                .await
        })
        .await
        .expect("searching the lock index")
    };
    let numpy = walk(PYPI, "numpy").await;
    assert_eq!(
        found(&numpy),
        [
            (format!("inv-a:{a1}"), "1.21.0".to_string(), None),
            (format!("inv-a:{a2}"), "1.26.0".to_string(), None),
            (
                format!("inv-anonymous:{anonymous}"),
                "1.19.0".to_string(),
                None
            ),
            (format!("inv-b:{b1}"), "1.20.0".to_string(), None),
        ],
        "every locked version of a package, anonymous ones and `pip freeze` lines included, by environment"
    );
    assert_eq!(
        numpy[0].runs,
        ["inv-early", "inv-run"],
        "the runs of a version, oldest first"
    );
    assert_eq!(
        numpy[0].models,
        [format!("inv-model:{}", registered.version)],
        "the models of a version"
    );
    assert_eq!(
        numpy[0].services,
        ["inv-another", "inv-svc"],
        "the services of a version by name, not the deleted ones"
    );
    assert!(numpy[1].runs.is_empty() && numpy[1].models.is_empty());
    assert_eq!(
        found(&walk(PYPI, "pillow-simd").await),
        [(format!("inv-a:{a1}"), "9.0.0".to_string(), None)]
    );
    assert_eq!(
        found(&walk(PYPI, "jinja2").await),
        [(format!("inv-b:{b1}"), "3.1.2".to_string(), None)],
        "`pip freeze` names are normalised"
    );
    assert_eq!(
        found(&walk(CONDA, "openssl").await),
        [(
            format!("inv-a:{a2}"),
            "3.0.0".to_string(),
            Some("h1".to_string())
        )],
        "conda names in lower case, with their build"
    );
    assert!(walk(CONDA, "numpy").await.is_empty(), "ecosystems apart");
    assert_eq!(
        found(&walk(PYPI, "Jinja_2").await),
        found(&walk(PYPI, "jinja-2").await),
        "any spelling of a name"
    );
    assert_eq!(
        found(&walk(PYPI, "JINJA2").await).len(),
        1,
        "names are compared normalised"
    );
    assert_eq!(found(&walk(CONDA, "OpenSSL").await).len(), 1);
    let first: CursorPage<PackageUse> = records
        .package_uses(PYPI, "numpy", None, 2)
        .await
        .expect("a first page");
    assert_eq!(first.items.len(), 2);
    assert!(
        first.next_cursor.is_some(),
        "a page that is not the last says where to go on"
    );

    // The latest version of every named environment, with its lock.
    let latest =
        collect_all(|cursor| async move { records.latest_locks(cursor.as_deref(), 1).await })
            .await
            .expect("reading the latest locks");
    let ours: Vec<(String, EnvironmentVersion, Option<String>, i64)> = latest
        .into_iter()
        .filter(|item| item.environment.name.starts_with("inv-"))
        .map(|item| {
            let (hash, at) = item
                .lock
                .map_or((None, 0), |lock| (Some(lock.lock_hash), lock.locked_at));
            (item.environment.name, item.environment.version, hash, at)
        })
        .collect();
    let stored_a2 = records
        .get_lock("inv-a", &a2)
        .await
        .expect("reading a lock")
        .expect("inv-a:2 has a lock");
    assert_eq!(
        ours.iter()
            .map(|(name, version, hash, _)| (name.as_str(), version.clone(), hash.clone()))
            .collect::<Vec<_>>(),
        [
            ("inv-a", a2.clone(), Some(locks[1].2.hash())),
            ("inv-b", b1.clone(), Some(locks[2].2.hash())),
            ("inv-unlocked", EnvironmentVersion::number(1), None),
        ],
        "the latest named versions by name, anonymous ones left out, with their locks"
    );
    assert_eq!(
        ours[0].3, stored_a2.locked_at,
        "the latest lock says when it was stored, as the lock itself does"
    );
}
