//! Reading a server workspace's versions from any machine — diffs, downloads (a stored Docker
//! build context included), where a version is built — and an image of one made here.

use serde_json::Value;

use super::Team;
use crate::common::test_data;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[test]
fn versions_are_diffed_downloaded_and_located_from_any_machine() {
    let Some(team) = Team::new("environments") else {
        return;
    };
    let context = &team.context;
    context.ok(&["env", "scaffold", "-n", "trainenv", "-d", "envdir"]);
    team.ok(&team.alice, "alice", &["env", "register", "-d", "envdir"]);
    team.register("trainenv", "requirements.txt", "six==1.16.0\n");

    // Bob (a reader, on another machine) compares the two versions.
    let diff = json(&team.ok(
        &team.bob,
        "bob",
        &["env", "diff", "trainenv:1", "trainenv:2", "--json"],
    ));
    assert_eq!(diff["sameSpecHash"], false, "{diff}");
    assert!(
        diff["pip"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["new"] == "six==1.16.0"),
        "{diff}"
    );
    let text = team.ok(
        &team.bob,
        "bob",
        &["env", "diff", "trainenv:1", "trainenv:2"],
    );
    assert!(text.contains("+ pip      six==1.16.0"), "{text}");

    // He downloads a version as Azure ML's files, which register as that same version.
    let downloaded = team.ok(
        &team.bob,
        "bob",
        &["env", "download", "-n", "trainenv", "-v", "2", "-d", "out"],
    );
    assert_eq!(downloaded.trim(), "Downloaded trainenv:2 to out");
    let definition = json(&context.read("out/azureml_environment.json"));
    assert_eq!(definition["name"], "trainenv", "{definition}");
    let again = team.ok(&team.alice, "alice", &["env", "register", "-d", "out"]);
    assert!(again.contains("trainenv:2 is unchanged"), "{again}");

    // A Docker build context registered on the server is stored there, and a teammate's
    // download writes it out again.
    let build = test_data().join("azureml/v2/env_build.yml");
    team.ok(
        &team.alice,
        "alice",
        &["env", "register", "--file", build.to_str().unwrap()],
    );
    let shown = json(&team.ok(
        &team.bob,
        "bob",
        &["env", "show", "docker-context-example", "--json"],
    ));
    let location = shown["definition"]["docker"]["buildContext"]["location"]
        .as_str()
        .unwrap();
    assert!(location.starts_with("strata://contexts/"), "{location}");
    team.ok(
        &team.bob,
        "bob",
        &[
            "env",
            "download",
            "-n",
            "docker-context-example",
            "-d",
            "ctx",
            "--format",
            "v2",
        ],
    );
    for file in ["Dockerfile", "requirements.txt"] {
        assert_eq!(
            context.read(&format!("ctx/context/{file}")),
            fs_err::read_to_string(test_data().join("azureml/v2/build_ctx").join(file)).unwrap(),
            "{file}"
        );
    }
    let yaml = context.read("ctx/environment.yml");
    assert!(yaml.contains("path: context"), "{yaml}");

    // Where a version is built is each machine's: built on Alice's, not yet on Bob's, from
    // the one lock they share.
    let before = json(&team.ok(
        &team.alice,
        "alice",
        &["env", "image-details", "trainenv:1", "--json"],
    ));
    assert_eq!(before["built"], false, "{before}");
    assert!(before["lockHash"].is_null(), "{before}");
    let built = json(&team.ok(
        &team.alice,
        "alice",
        &["env", "build", "trainenv:1", "--json"],
    ));
    let hers = json(&team.ok(
        &team.alice,
        "alice",
        &["env", "image-details", "trainenv:1", "--json"],
    ));
    assert_eq!(hers["built"], true, "{hers}");
    assert_eq!(hers["lockHash"], built["lockHash"], "{hers}");
    assert!(
        hers["pythonEnvironment"]["condaEnvironmentPath"]
            .as_str()
            .unwrap()
            .contains("alice-cache"),
        "{hers}"
    );
    let his = json(&team.ok(
        &team.bob,
        "bob",
        &["env", "image-details", "trainenv:1", "--json"],
    ));
    assert_eq!(his["built"], false, "{his}");
    assert_eq!(his["lockHash"], built["lockHash"], "{his}");
}
