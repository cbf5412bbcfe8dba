//! Environment labels on a server workspace: one teammate labels, another resolves the label,
//! and a reader may read labels but not move them.

use super::Team;

#[test]
fn labels_are_shared_and_moved_through_the_server() {
    let Some(team) = Team::new("labels") else {
        return;
    };
    for pin in ["six==1.16.0", "six==1.17.0"] {
        team.register("labelled", "requirements.txt", &format!("{pin}\n"));
    }
    let labelled = team.ok(
        &team.alice,
        "alice",
        &[
            "env",
            "label",
            "labelled:1",
            "production",
            "stable",
            "--json",
        ],
    );
    let labelled: serde_json::Value = serde_json::from_str(&labelled).unwrap();
    assert_eq!(
        labelled["labels"],
        serde_json::json!([
            {"label": "production", "version": 1},
            {"label": "stable", "version": 1},
        ]),
        "{labelled}"
    );

    // Bob (reader), on another machine, finds the version by its label.
    let version = |label: &str| {
        let shown = team.ok(
            &team.bob,
            "bob",
            &["env", "show", "labelled", "--label", label, "--json"],
        );
        serde_json::from_str::<serde_json::Value>(&shown).unwrap()["version"].clone()
    };
    assert_eq!(version("production"), 1);

    // Alice moves it; bob sees the move, and the other label stays.
    team.ok(
        &team.alice,
        "alice",
        &["env", "label", "labelled:2", "production"],
    );
    assert_eq!(version("production"), 2);
    assert_eq!(version("stable"), 1);

    // A reader may not label, an unknown label is named, and an invalid one too.
    let refused = team.run(
        &team.bob,
        "bob",
        &["env", "label", "labelled:1", "production"],
    );
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("reader"), "{refused}");
    assert_eq!(version("production"), 2, "nothing moved");
    let unknown = team.run(
        &team.bob,
        "bob",
        &["env", "show", "labelled", "--label", "nope"],
    );
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(unknown.stderr.contains("Label `nope`"), "{unknown}");
    let invalid = team.run(
        &team.alice,
        "alice",
        &["env", "label", "labelled:1", "not/valid"],
    );
    assert_eq!(invalid.code, 1, "{invalid}");
    assert!(invalid.stderr.contains("`not/valid`"), "{invalid}");
}
