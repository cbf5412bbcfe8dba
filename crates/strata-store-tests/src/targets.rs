//! Compute targets: attached under a name nobody took, read (the built-in ones too), listed
//! by name page by page, and detached.

use strata_store::StoreError;
use strata_store::store::collect_all;

use crate::fixtures::Subject;

pub(crate) async fn targets_are_attached_listed_and_detached(subject: &Subject) {
    let records = &subject.records;
    let local = records
        .get_target("local")
        .await
        .expect("a built-in target");
    assert!(local.builtin && local.kind == "local", "{local:?}");
    let settings = serde_json::json!({"partition": "debug", "account": "ml", "sharedCache": false});
    let hpc = records
        .attach_target("hpc", "slurm", &settings)
        .await
        .expect("attaching a target");
    assert!(!hpc.builtin && hpc.created_at > 0, "{hpc:?}");
    records
        .attach_target("gpu-cluster", "slurm", &serde_json::json!({}))
        .await
        .expect("attaching another");
    assert_eq!(
        records.get_target("hpc").await.expect("reading it back"),
        hpc,
        "a target reads back as attached"
    );
    for taken in ["hpc", "local"] {
        assert!(
            matches!(
                records.attach_target(taken, "slurm", &settings).await,
                Err(StoreError::InvalidReference { .. })
            ),
            "a taken name `{taken}` is refused"
        );
    }
    assert!(
        matches!(
            records.attach_target("9 bad", "slurm", &settings).await,
            Err(StoreError::InvalidReference { .. })
        ),
        "an invalid name is refused"
    );
    let all = collect_all(|cursor| async move { records.list_targets(cursor.as_deref(), 1).await })
        .await
        .expect("listing targets a page at a time");
    let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["gpu-cluster", "hpc"], "attached ones, by name");
    assert_eq!(all[1], hpc, "listed as attached");
    assert!(
        matches!(
            records.detach_target("container").await,
            Err(StoreError::InvalidReference { .. })
        ),
        "a built-in target stays"
    );
    records.detach_target("hpc").await.expect("detaching");
    assert!(
        matches!(
            records.get_target("hpc").await,
            Err(StoreError::NotFound { .. })
        ),
        "a detached target is gone"
    );
    assert!(
        matches!(
            records.detach_target("hpc").await,
            Err(StoreError::NotFound { .. })
        ),
        "detaching it again"
    );
    records
        .attach_target("hpc", "slurm", &settings)
        .await
        .expect("its name can be attached again");
}
