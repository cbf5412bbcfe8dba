//! `env sbom`: CycloneDX and SPDX documents of locks, checked against the official schemas, and
//! the SBOM `env image` records beside an image.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::{TestContext, test_data};

use super::{conda_locked, locked, raw_stdout};

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
