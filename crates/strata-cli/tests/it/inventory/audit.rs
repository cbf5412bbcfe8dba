//! `env audit`: pinned packages against OSV advisories, from the snapshot in `test-data/` and
//! from an OSV API on loopback.

use std::path::PathBuf;

use insta::assert_snapshot;
use serde_json::Value;

use crate::common::{TestContext, test_data};

use super::{advisories, conda_locked, locked, probe_wheel, without_lock_hashes};

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
