//! Search, SBOMs and audits of a server workspace answer as the local one's.

use serde_json::Value;

use crate::common::TestContext;

use super::{advisories, raw_stdout, six_versions_with_a_run_and_a_model};

#[test]
fn a_server_workspace_answers_search_sbom_and_audit_as_the_local_one() {
    let Some(team) = crate::server::Team::new("inventory") else {
        return;
    };
    let local = TestContext::new();
    let run = six_versions_with_a_run_and_a_model(&local);
    let mut push = local.command();
    push.env("STRATA_TOKEN", &team.alice)
        .args(["workspace", "push", &team.server.url]);
    let pushed = local.output(&mut push);
    assert_eq!(pushed.code, 0, "{pushed}");

    // A reader on another machine gets the answers the local workspace gives.
    let on_server = |args: &[&str]| team.ok(&team.bob, "bob", args);
    let search = ["env", "search", "six", "--json"];
    let found: Value = serde_json::from_str(&on_server(&search)).unwrap();
    assert_eq!(found, local.json(&search));
    let matches = found["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 2, "{found}");
    assert_eq!(matches[0]["runs"][0], run.as_str(), "{found}");
    assert_eq!(matches[0]["models"][0], "clf:1", "{found}");
    let older: Value =
        serde_json::from_str(&on_server(&["env", "search", "SIX<1.16", "--json"])).unwrap();
    assert_eq!(older["matches"].as_array().unwrap().len(), 1, "{older}");
    assert_eq!(older["matches"][0]["envName"], "old");

    let sbom = ["env", "sbom", "new", "--format", "cyclonedx"];
    let served = team.as_user(&team.bob, "bob").args(sbom).output().unwrap();
    assert!(served.status.success());
    // The time is when the lock was stored, which for a pushed lock is the push.
    let timeless = |text: &str| -> String {
        text.lines()
            .filter(|line| !line.contains("\"timestamp\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        timeless(&String::from_utf8(served.stdout).unwrap()),
        timeless(&raw_stdout(&local, &sbom)),
        "the same lock gives the same SBOM, wherever it is stored"
    );

    let advisories = advisories();
    let audit = [
        "env",
        "audit",
        "--all",
        "--advisories",
        advisories.as_str(),
        "--json",
    ];
    let report: Value = serde_json::from_str(&on_server(&audit)).unwrap();
    assert_eq!(report, local.json(&audit));
    assert_eq!(report["reports"].as_array().unwrap().len(), 2, "{report}");
    let one: Value = serde_json::from_str(&on_server(&[
        "env",
        "audit",
        "old:1",
        "--advisories",
        &advisories,
        "--json",
    ]))
    .unwrap();
    assert_eq!(one["reports"][0]["environment"], "old:1", "{one}");

    // A version without a lock says how to make one, on the server as locally.
    team.register("bare", "bare.txt", "six\n");
    let missing = team.run(
        &team.bob,
        "bob",
        &["env", "sbom", "bare", "--format", "spdx"],
    );
    assert_eq!(missing.code, 1, "{missing}");
    assert!(missing.stderr.contains("has no lock yet"), "{missing}");
}
