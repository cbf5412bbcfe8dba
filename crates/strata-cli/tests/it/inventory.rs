//! Knowing what is inside (issue #17): `env search`, `env sbom` and `env audit` on locks the
//! tests build, PyPI through uv, conda from a local channel, private wheels at chosen versions.

use std::path::{Path, PathBuf};

use insta::assert_snapshot;
use serde_json::Value;

use crate::common::{TestContext, test_data};

/// Registers `name` from requirements and locks it.
fn locked(context: &TestContext, name: &str, requirements: &str) {
    let file = format!("{name}.txt");
    context.write(&file, requirements);
    context.ok(&["env", "register", "--name", name, "--requirements", &file]);
    context.ok(&["env", "lock", name]);
}

/// A conda environment from the local test channel (mat-app, mat-hello, mat-lib 2.0.0).
fn conda_locked(context: &TestContext) {
    let channel = context.path().join("channel");
    strata_build::test_channel::write_channel(
        &channel,
        &strata_build::test_channel::sample_packages(),
    )
    .unwrap();
    context.write(
        "environment.yml",
        &format!(
            "name: condaenv\nchannels:\n- file://{}\ndependencies:\n- python=3.11\n- mat-app\n- pip\n- pip:\n  - six==1.16.0\n",
            channel.display()
        ),
    );
    context.ok(&[
        "env",
        "register",
        "--name",
        "condaenv",
        "--conda-file",
        "environment.yml",
    ]);
    context.ok(&["env", "lock", "condaenv"]);
}

/// A pure-Python wheel of `strata-audit-probe` at `version`.
fn probe_wheel(dir: &Path, version: &str) -> PathBuf {
    fs_err::create_dir_all(dir).unwrap();
    let wheel = dir.join(format!("strata_audit_probe-{version}-py3-none-any.whl"));
    let script = r#"
import sys, zipfile, hashlib, base64
path, version = sys.argv[1], sys.argv[2]
info = f"strata_audit_probe-{version}.dist-info"
files = {"strata_audit_probe/__init__.py": b"", f"{info}/METADATA": f"Metadata-Version: 2.1\nName: strata-audit-probe\nVersion: {version}\n".encode(), f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
record = ""
with zipfile.ZipFile(path, "w") as z:
    for name, data in files.items():
        z.writestr(name, data)
        record += f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
    record += f"{info}/RECORD,,\n"
    z.writestr(f"{info}/RECORD", record)
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&wheel)
        .arg(version)
        .status()
        .unwrap();
    assert!(status.success());
    wheel
}

/// Unfiltered stdout of a successful command (`TestContext::ok` replaces times and paths).
fn raw_stdout(context: &TestContext, args: &[&str]) -> String {
    let output = context.command().args(args).output().unwrap();
    assert!(output.status.success(), "strata {}", args.join(" "));
    String::from_utf8(output.stdout).unwrap()
}

/// Replaces `(lock 0123456789ab)` (lock hashes move with PyPI and wheel timestamps).
fn without_lock_hashes(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(index) = rest.find("(lock ") {
        out.push_str(&rest[..index + 6]);
        out.push_str("[HASH]");
        rest = &rest[(index + 18).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// `old` and `new`, locked to six 1.15.0 and 1.16.0, a run in `new:1` and a model `clf`
/// registered from it; returns the run's id.
fn six_versions_with_a_run_and_a_model(context: &TestContext) -> String {
    locked(context, "old", "six==1.15.0\n");
    locked(context, "new", "six==1.16.0\n");
    context.write(
        "train.py",
        "import os\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/model.txt', 'w').write('w')\n",
    );
    context.ok(&["run", "--experiment", "exp", "--env", "new:1", "train.py"]);
    let run = context.json(&["runs", "list", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    context.ok(&[
        "model",
        "register",
        "--name",
        "clf",
        "--run",
        &run,
        "--path",
        "outputs/model.txt",
    ]);
    run
}

fn advisories() -> String {
    test_data().join("advisories").display().to_string()
}

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

/// The errors of `document` against the vendored official schema (`test-data/sbom-schemas/`).
fn schema_errors(document: &Value, schema: &str) -> Vec<String> {
    let dir = test_data().join("sbom-schemas");
    let read = |name: &str| -> Value {
        serde_json::from_str(&fs_err::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let registry = jsonschema::Registry::new()
        .add(
            "http://cyclonedx.org/schema/spdx.schema.json",
            read("spdx.schema.json"),
        )
        .unwrap()
        .add(
            "http://cyclonedx.org/schema/jsf-0.82.schema.json",
            read("jsf-0.82.schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    let validator = jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&read(schema))
        .unwrap();
    validator
        .iter_errors(document)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

#[test]
fn sboms_follow_the_official_schemas_and_are_deterministic() {
    let context = TestContext::new();
    locked(&context, "pyenv", "six==1.16.0\nurllib3==1.26.4\n");
    conda_locked(&context);
    for environment in ["pyenv:1", "condaenv"] {
        for (format, schema) in [
            ("cyclonedx", "bom-1.5.schema.json"),
            ("spdx", "spdx-2.3.schema.json"),
        ] {
            let first = raw_stdout(&context, &["env", "sbom", environment, "--format", format]);
            let output = context.run(&[
                "env",
                "sbom",
                environment,
                "--format",
                format,
                "-o",
                "out.json",
            ]);
            assert_eq!(output.code, 0, "{output}");
            assert_eq!(
                context.read("out.json"),
                first,
                "the same lock gives the same bytes"
            );
            let mut document: Value = serde_json::from_str(&first).unwrap();
            let errors = schema_errors(&document, schema);
            assert!(errors.is_empty(), "{environment} {schema}: {errors:#?}");
            // The validator does reject what the schema forbids.
            if format == "spdx" {
                document["packages"][0]["filesAnalyzed"] = Value::String("no".to_string());
            } else {
                document["components"][0]["purl"] = Value::Bool(true);
            }
            assert!(!schema_errors(&document, schema).is_empty(), "{schema}");
        }
    }
    let cdx: Value =
        serde_json::from_str(&context.ok(&["env", "sbom", "pyenv", "--format", "cyclonedx"]))
            .unwrap();
    let urllib3 = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "urllib3")
        .unwrap();
    assert_eq!(urllib3["purl"], "pkg:pypi/urllib3@1.26.4");
    assert_eq!(urllib3["hashes"][0]["alg"], "SHA-256");
    let properties: Vec<String> = cdx["metadata"]["component"]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        properties,
        [
            "strata:lock-hash",
            "strata:platform",
            "strata:python",
            "strata:python-source"
        ]
    );
    let spdx: Value =
        serde_json::from_str(&context.ok(&["env", "sbom", "condaenv", "--format", "spdx"]))
            .unwrap();
    let purls: Vec<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        // pip, setuptools and wheel (and wheel's packaging), which every lock of a Python from
        // the machine has, are whatever PyPI has today.
        .filter(|purl| {
            !["pip", "setuptools", "wheel", "packaging"]
                .iter()
                .any(|seed| purl.starts_with(&format!("pkg:pypi/{seed}@")))
        })
        .map(|purl| purl.replace("[TEMP]", "[CHANNEL]"))
        .collect();
    assert_eq!(
        purls,
        [
            "pkg:conda/mat-app@1.2.3?build=h0_1&channel=file://[CHANNEL]/channel&subdir=linux-64&type=conda",
            "pkg:conda/mat-hello@0.1.0?build=h0_0&channel=file://[CHANNEL]/channel&subdir=noarch&type=conda",
            "pkg:conda/mat-lib@2.0.0?build=h0_0&channel=file://[CHANNEL]/channel&subdir=noarch&type=conda",
            "pkg:pypi/six@1.16.0",
        ]
    );
    assert_eq!(spdx["packages"][1]["checksums"][0]["algorithm"], "SHA256");
}

#[test]
fn audit_reports_advisories_with_pep_440_ranges() {
    let context = TestContext::new();
    locked(&context, "vuln", "pillow==9.0.0\nurllib3>=1.26,<1.26.5\n");
    conda_locked(&context);
    let advisories = advisories();
    let output = context.run(&["env", "audit", "vuln", "--advisories", &advisories]);
    assert_snapshot!(without_lock_hashes(&output.to_string()), @"
    exit_code: 0
    ----- stdout -----
    Advisories: 70 PyPI records (72 read, 2 withdrawn and skipped)

    vuln:1 (lock [HASH]): 6 PyPI packages checked, 2 packages with 7 advisories; 1 unchecked
    PACKAGE  VERSION  ADVISORY          ALIASES                              SEVERITY    FIXED IN
    pillow   9.0.0    PYSEC-2022-168    CVE-2022-24303, GHSA-9j59-75qj-795w  unknown     9.0.1
    pillow   9.0.0    PYSEC-2022-42979  CVE-2022-45198                       unknown     9.2.0
    pillow   9.0.0    PYSEC-2023-175                                         unknown     10.0.1
    pillow   9.0.0    PYSEC-2023-227    CVE-2023-44271                       unknown     10.0.0
    urllib3  1.26.4   PYSEC-2021-108    CVE-2021-33503, GHSA-q2q7-5pp4-w6pg  unknown     1.26.5
    urllib3  1.26.4   PYSEC-2023-192    CVE-2023-43804, GHSA-v845-jxx5-vc9f  high 8.1    1.26.17, 2.0.6
    urllib3  1.26.4   PYSEC-2023-212    CVE-2023-45803, GHSA-g4mx-q9vg-27p4  medium 4.2  1.26.18, 2.0.7
      pillow 10.0.1 fixes it, but the definition's `pillow==9.0.0` excludes it: change the definition
      urllib3 1.26.18 fixes it, but the definition's `urllib3>=1.26,<1.26.5` excludes it: change the definition
    Unchecked (no advisory source; not known to be clean):
      system:python 3.11.7: the interpreter comes from the machine
    ----- stderr -----
    ");
    let json = context.json(&[
        "env",
        "audit",
        "vuln",
        "--advisories",
        &advisories,
        "--json",
    ]);
    let report = &json["reports"][0];
    assert_eq!(report["environment"], "vuln:1");
    let urllib3 = &report["vulnerable"][1];
    assert_eq!(urllib3["name"], "urllib3");
    assert_eq!(urllib3["requirement"], "urllib3>=1.26,<1.26.5");
    assert_eq!(urllib3["suggested"], Value::Null);
    assert_eq!(urllib3["fixedOutsideRequirement"], "1.26.18");
    // --fail-on: the CVSS 8.1 record of urllib3 reaches high, nothing has a known critical
    // score, but records without a severity count as reaching every level.
    for (level, code) in [("high", 1), ("critical", 1)] {
        let output = context.run(&[
            "env",
            "audit",
            "vuln",
            "--advisories",
            &advisories,
            "--fail-on",
            level,
        ]);
        assert_eq!(output.code, code, "{level}: {output}");
    }
    // Conda packages are unchecked, never clean, and do not fail the audit.
    let output = context.run(&[
        "env",
        "audit",
        "condaenv",
        "--advisories",
        &advisories,
        "--fail-on",
        "low",
    ]);
    assert_snapshot!(without_lock_hashes(&output.to_string()), @"
    exit_code: 0
    ----- stdout -----
    Advisories: 70 PyPI records (72 read, 2 withdrawn and skipped)

    condaenv:1 (lock [HASH]): 5 PyPI packages checked, no known advisories; 4 unchecked
    Unchecked (no advisory source; not known to be clean):
      conda:mat-app 1.2.3: no advisory source for conda packages
      conda:mat-hello 0.1.0: no advisory source for conda packages
      conda:mat-lib 2.0.0: no advisory source for conda packages
      system:python 3.11.7: the interpreter comes from the machine
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "audit", "vuln", "--advisories", &advisories, "--fail-on", "severe"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: invalid value 'severe' for '--fail-on <LEVEL>': `severe` is not a severity; use low, medium, high or critical

    For more information, try '--help'.
    ");
}

#[test]
fn audit_ranges_that_string_comparison_gets_wrong() {
    let context = TestContext::new();
    let dist = context.path().join("dist");
    // (environment, probe version, advisories expected)
    let cases = [
        ("probe-a", "1.9", vec!["STRATA-TEST-1"]),
        ("probe-b", "1.10", vec![]),
        ("probe-c", "2.0rc1", vec!["STRATA-TEST-2"]),
        ("probe-d", "3.0", vec!["STRATA-TEST-3"]),
        ("probe-e", "3.0.post1", vec![]),
        ("probe-f", "1!0.5", vec!["STRATA-TEST-4"]),
    ];
    for (name, version, _) in &cases {
        let wheel = probe_wheel(&dist, version);
        context.write(&format!("{name}.txt"), "six==1.16.0\n");
        context.ok(&[
            "env",
            "register",
            "--name",
            name,
            "--requirements",
            &format!("{name}.txt"),
        ]);
        context.ok(&["env", "add-wheel", wheel.to_str().unwrap(), "--to", name]);
        context.ok(&["env", "lock", name]);
    }
    // One zip of the records: archives and directories read the same.
    let archive = context.path().join("advisories.zip");
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import shutil, sys; shutil.make_archive(sys.argv[1][:-4], 'zip', sys.argv[2])",
        ])
        .arg(&archive)
        .arg(test_data().join("advisories"))
        .status()
        .unwrap();
    assert!(status.success());
    let from_zip = context.json(&[
        "env",
        "audit",
        "--all",
        "--advisories",
        archive.to_str().unwrap(),
        "--json",
    ]);
    let from_dir = context.json(&[
        "env",
        "audit",
        "--all",
        "--advisories",
        &advisories(),
        "--json",
    ]);
    assert_eq!(from_zip["reports"], from_dir["reports"]);
    assert_eq!(from_dir["advisories"]["withdrawn"], 2, "{from_dir}");
    for (name, version, expected) in &cases {
        let report = from_dir["reports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["environment"] == format!("{name}:2"))
            .unwrap();
        let found: Vec<&str> = report["vulnerable"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["advisories"].as_array().unwrap())
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(&found, expected, "{name} at {version}: {report}");
    }
    // Severity from the CVSS v3 vector (STRATA-TEST-4: 2.8, low) or the record's label
    // (STRATA-TEST-2: MODERATE); a clean lock never fails.
    for (name, level, code) in [
        ("probe-f", "low", 1),
        ("probe-f", "medium", 0),
        ("probe-c", "medium", 1),
        ("probe-c", "high", 0),
        ("probe-a", "critical", 1),
        ("probe-b", "low", 0),
    ] {
        let output = context.run(&[
            "env",
            "audit",
            name,
            "--advisories",
            &advisories(),
            "--fail-on",
            level,
        ]);
        assert_eq!(output.code, code, "{name} --fail-on {level}: {output}");
    }
    let output = context.run(&["env", "audit", "probe-a", "--advisories", &advisories()]);
    assert_snapshot!(without_lock_hashes(&output.to_string()), @"
    exit_code: 0
    ----- stdout -----
    Advisories: 70 PyPI records (72 read, 2 withdrawn and skipped)

    probe-a:2 (lock [HASH]): 6 PyPI packages checked, 1 package with 1 advisory; 1 unchecked
    PACKAGE             VERSION  ADVISORY       ALIASES        SEVERITY      FIXED IN
    strata-audit-probe  1.9      STRATA-TEST-1  CVE-0000-0001  critical 9.8  1.10
      upgrade strata-audit-probe to 1.10
    Unchecked (no advisory source; not known to be clean):
      system:python 3.11.7: the interpreter comes from the machine
    ----- stderr -----
    ");
}

/// Whether the container tools `strata env image` needs are installed (it says which not).
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn container_tools(test: &str) -> bool {
    let missing: Vec<&str> = ["podman", "skopeo", "bwrap", "mmdebstrap"]
        .into_iter()
        .filter(|tool| {
            !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        eprintln!("skipped {test}: {} not installed", missing.join(", "));
    }
    missing.is_empty()
}

#[test]
fn env_image_records_the_sbom_as_an_oci_referrer() {
    if !container_tools("env_image_records_the_sbom_as_an_oci_referrer") {
        return;
    }
    let context = TestContext::new();
    context.ok(&["image", "base", "debian-python"]);
    locked(&context, "imgenv", "six==1.16.0\n");
    let image = context.json(&["env", "image", "imgenv", "--json"]);
    let referrer = image["sbom"].as_str().unwrap().to_string();
    let layout = PathBuf::from(image["layout"].as_str().unwrap());
    let blob = |digest: &str| {
        fs_err::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index: Value =
        serde_json::from_str(&fs_err::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["digest"] == referrer.as_str())
        .unwrap();
    assert_eq!(entry["artifactType"], "application/vnd.cyclonedx+json");
    assert_eq!(
        entry["annotations"]["org.strata.referrer.subject"],
        image["digest"]
    );
    assert!(entry["annotations"]["org.opencontainers.image.ref.name"].is_null());
    let manifest: Value = serde_json::from_slice(&blob(&referrer)).unwrap();
    assert_eq!(manifest["subject"]["digest"], image["digest"]);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let sbom = blob(manifest["layers"][0]["digest"].as_str().unwrap());
    assert_eq!(
        String::from_utf8(sbom).unwrap(),
        raw_stdout(
            &context,
            &["env", "sbom", "imgenv", "--format", "cyclonedx"]
        ),
        "the referrer holds the version's SBOM"
    );
    // Image listings do not show it, and building again attaches the same bytes once.
    let listed = context.json(&["image", "list", "--json"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["digest"] != referrer.as_str()),
        "{listed}"
    );
    let again = context.json(&["env", "image", "imgenv", "--json"]);
    assert_eq!(again["sbom"], image["sbom"]);
    let index: Value =
        serde_json::from_str(&fs_err::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    let count = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["annotations"]["org.strata.referrer.subject"] == image["digest"])
        .count();
    assert_eq!(count, 1);
}

/// An OSV API (a stand-in for api.osv.dev on loopback): the same findings as the records it
/// serves give from a directory, and an unreachable API is a clear error.
#[test]
fn audit_against_an_online_osv_api() {
    use std::io::BufRead as _;
    let context = TestContext::new();
    locked(&context, "vuln", "pillow==9.0.0\nurllib3>=1.26,<1.26.5\n");
    // The API answers JSON: the records, most of them YAML here, converted.
    let records = context.path().join("osv-records");
    fs_err::create_dir_all(&records).unwrap();
    let mut stack = vec![PathBuf::from(advisories())];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let is = |ext: &str| path.extension().is_some_and(|e| e == ext);
            if path.is_dir() {
                stack.push(path);
            } else if is("yaml") || is("json") {
                let text = fs_err::read_to_string(&path).unwrap();
                let value: Value = serde_yaml_ng::from_str(&text).unwrap();
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                fs_err::write(records.join(format!("{name}.json")), value.to_string()).unwrap();
            }
        }
    }
    let mut server = std::process::Command::new("python3")
        .arg(test_data().join("osv-api/serve.py"))
        .arg(&records)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let api = format!("http://127.0.0.1:{}/v1", port.trim());
    let findings = |source: &str| -> Vec<(String, String)> {
        let json = context.json(&["env", "audit", "vuln", "--advisories", source, "--json"]);
        let mut found: Vec<(String, String)> = json["reports"][0]["vulnerable"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|package| {
                let name = package["name"].as_str().unwrap().to_string();
                package["advisories"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |a| (name.clone(), a["id"].as_str().unwrap().to_string()))
            })
            .collect();
        found.sort();
        found
    };
    let online = findings(&api);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(online.len(), 7, "{online:?}");
    assert_eq!(online, findings(&advisories()));
    let output = context.run(&["env", "audit", "vuln", "--advisories", &api]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output.stderr.contains(&format!(
            "error: The advisory API `{api}` did not answer: querybatch: "
        )),
        "{output}"
    );
}

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
    team.context.write("bare.txt", "six\n");
    team.ok(
        &team.alice,
        "alice",
        &[
            "env",
            "register",
            "--name",
            "bare",
            "--requirements",
            "bare.txt",
        ],
    );
    let missing = team.run(
        &team.bob,
        "bob",
        &["env", "sbom", "bare", "--format", "spdx"],
    );
    assert_eq!(missing.code, 1, "{missing}");
    assert!(missing.stderr.contains("has no lock yet"), "{missing}");
}
