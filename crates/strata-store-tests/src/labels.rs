//! Environment labels: a label names one version at a time, moves when another version is
//! labelled, and is listed by label, page by page.

use strata_store::store::collect_all;
use strata_store::{EnvironmentLabel, RegisterOptions, StoreError};

use crate::fixtures::{Subject, environment, version};

pub(crate) async fn labels_name_one_version_and_move(subject: &Subject) {
    let records = &subject.records;
    for image in ["img:1", "img:2"] {
        records
            .register_environment(environment("lab", image, None), RegisterOptions::default())
            .await
            .expect("registering");
    }
    let (v1, v2) = (version("1"), version("2"));
    let labels = |names: &[&str]| names.iter().map(ToString::to_string).collect::<Vec<_>>();
    records
        .label_environment("lab", &v1, &labels(&["production", "stable"]))
        .await
        .expect("labelling a version");
    records
        .label_environment("lab", &v2, &labels(&["production"]))
        .await
        .expect("moving a label");
    let read = |label: &'static str| async move { records.labelled_version("lab", label).await };
    assert_eq!(read("production").await.unwrap(), v2, "a label moves");
    assert_eq!(read("stable").await.unwrap(), v1, "the others stay");
    let all = collect_all(|cursor| async move {
        records
            .environment_labels("lab", cursor.as_deref(), 1)
            .await
    })
    .await
    .expect("listing labels a page at a time");
    assert_eq!(
        all,
        [
            EnvironmentLabel {
                label: "production".into(),
                version: v2.clone()
            },
            EnvironmentLabel {
                label: "stable".into(),
                version: v1.clone()
            },
        ],
        "by label"
    );
    assert!(
        matches!(read("nope").await, Err(StoreError::NotFound { .. })),
        "an unknown label"
    );
    assert!(
        matches!(
            records
                .label_environment("lab", &version("9"), &labels(&["x"]))
                .await,
            Err(StoreError::VersionNotFound { .. })
        ),
        "an unknown version cannot be labelled"
    );
    assert!(
        records
            .labelled_version("no-such-env", "production")
            .await
            .is_err(),
        "an unknown environment"
    );
    let refused = records
        .label_environment("lab", &v1, &labels(&["ok", "not valid!"]))
        .await;
    assert!(
        matches!(&refused, Err(StoreError::InvalidLabel { label }) if label == "not valid!"),
        "an invalid label is named: {refused:?}"
    );
    assert!(
        matches!(read("ok").await, Err(StoreError::NotFound { .. })),
        "nothing of a refused call is stored"
    );
}
