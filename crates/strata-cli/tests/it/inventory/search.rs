//! `env search`: locked versions that match a spec, and the runs, models and services that used them.

use insta::assert_snapshot;
use serde_json::Value;

use crate::common::TestContext;

use super::{advisories, conda_locked, six_versions_with_a_run_and_a_model};

#[test]
fn search_finds_locked_versions_and_what_used_them() {
    let context = TestContext::new();
    let run = six_versions_with_a_run_and_a_model(&context);
    conda_locked(&context);

    let output = context.run(&["env", "search", "SIX"]).to_string();
    let placeholder = format!("{:<width$}", "[RUN]", width = run.len());
    assert_snapshot!(output.replace(&run, &placeholder), @"
    exit_code: 0
    ----- stdout -----
    ENVIRONMENT  PACKAGE   LOCKED  RUNS                     MODELS  SERVICES
    condaenv:1   pypi:six  1.16.0  -                        -       -
    new:1        pypi:six  1.16.0  [RUN]                    clf:1   -
    old:1        pypi:six  1.15.0  -                        -       -
    ----- stderr -----
    ");
    // PEP 440, not string order: 1.15.0 < 1.16 and `!=` excludes.
    let json = context.json(&["env", "search", "six<1.16", "--json"]);
    let matches: Vec<String> = json["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}:{}", m["envName"].as_str().unwrap(), m["envVersion"]))
        .collect();
    assert_eq!(matches, ["old:1"]);
    let json = context.json(&["env", "search", "pypi:six!=1.15.*", "--json"]);
    assert_eq!(json["matches"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(json["matches"][1]["runs"][0], run.as_str());
    assert_eq!(json["matches"][1]["models"][0], "clf:1");
    // Conda match specs, names compared in lower case, builds matched too.
    assert_snapshot!(context.run(&["env", "search", "conda:MAT-LIB>=2,<3"]), @"
    exit_code: 0
    ----- stdout -----
    ENVIRONMENT  PACKAGE        LOCKED      RUNS  MODELS  SERVICES
    condaenv:1   conda:mat-lib  2.0.0=h0_0  -     -       -
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "search", "conda:mat-app 1.2.* h0_9"]), @"
    exit_code: 0
    ----- stdout -----
    No locked environment version has conda `mat-app` matching `conda:mat-app 1.2.* h0_9`
    ----- stderr -----
    ");
    // A PyPI spec does not match conda packages of the same name, and the other way round.
    assert_eq!(
        context.json(&["env", "search", "conda:six", "--json"])["matches"],
        Value::Array(Vec::new())
    );
}

#[test]
fn search_specs_and_references_are_checked() {
    let context = TestContext::new();
    assert_snapshot!(context.run(&["env", "search", "numpy<<1.22"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid package spec `numpy<<1.22`: no such comparison operator \"<<\", must be one of ~= == != <= >= < > === at characters 6-11 (`<<1.22`)
    ");
    assert_snapshot!(context.run(&["env", "search", "num py"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid package spec `num py`: Expected one of `@`, `(`, `<`, `=`, `>`, `~`, `!`, `;`, found `p` at character 5 (`p`)
    ");
    assert_snapshot!(context.run(&["env", "search", "conda:open*"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid package spec `conda:open*`: not a conda match spec (\"open*\" looks like a glob but only exact package names are allowed, package names can only contain 0-9, a-z, A-Z, -, _, or .)
    ");
    // Unknown versions and versions without a lock.
    context.write("r.txt", "six==1.16.0\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "unlocked",
        "--requirements",
        "r.txt",
    ]);
    assert_snapshot!(context.run(&["env", "sbom", "unlocked:3", "--format", "spdx"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Environment `unlocked` has no version 3 (the latest is 1)
    hint: `strata env list --all-versions` shows every version of `unlocked`
    ");
    assert_snapshot!(context.run(&["env", "sbom", "unlocked", "--format", "cyclonedx"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Environment `unlocked:1` has no lock yet
    hint: Lock it first: `strata env lock unlocked:1`
    ");
    let advisories = advisories();
    assert_snapshot!(context.run(&["env", "audit", "unlocked", "--advisories", &advisories]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Environment `unlocked:1` has no lock yet
    hint: Lock it first: `strata env lock unlocked:1`
    ");
    assert_snapshot!(context.run(&["env", "audit", "unlocked"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: No advisory source to audit against
    hint: Pass `--advisories DIR|ZIP|URL` (OSV records, e.g. a mirror of the PyPA advisory database, or `https://api.osv.dev/v1` where the network allows) or set `STRATA_ADVISORIES`
    ");
}
