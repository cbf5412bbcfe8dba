//! SPDX 2.3 JSON (<https://spdx.github.io/spdx-spec/v2.3/>).

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{SbomInput, components, derived_uuid, environment_properties};

const ENVIRONMENT_ID: &str = "SPDXRef-Environment";

/// `SPDXRef-` plus the characters SPDX allows (letters, digits, `.` and `-`).
fn spdx_id(text: &str, taken: &mut HashSet<String>) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut id = format!("SPDXRef-{cleaned}");
    let mut counter = 2;
    while !taken.insert(id.clone()) {
        id = format!("SPDXRef-{cleaned}-{counter}");
        counter += 1;
    }
    id
}

pub(super) fn document(input: &SbomInput<'_>) -> Value {
    let mut taken: HashSet<String> = HashSet::from([ENVIRONMENT_ID.to_string()]);
    let facts: Vec<String> = environment_properties(input)
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let mut packages = vec![json!({
        "SPDXID": ENVIRONMENT_ID,
        "name": input.env_name,
        "versionInfo": input.env_version.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "APPLICATION",
        "comment": facts.join("; "),
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": ENVIRONMENT_ID,
    })];
    for component in components(input.lock) {
        let id = spdx_id(
            &format!(
                "{}-{}-{}",
                component.ecosystem, component.name, component.version
            ),
            &mut taken,
        );
        let mut package = json!({
            "SPDXID": id,
            "name": component.name,
            "versionInfo": component.version,
            "downloadLocation": component.download.as_deref().unwrap_or("NOASSERTION"),
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": if component.ecosystem == "oci" { "CONTAINER" } else { "LIBRARY" },
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": component.purl,
            }],
        });
        if !component.hashes.is_empty() {
            package["checksums"] = component
                .hashes
                .iter()
                .map(|(algorithm, value)| {
                    json!({"algorithm": algorithm.replace('-', ""), "checksumValue": value})
                })
                .collect();
        }
        if !component.properties.is_empty() {
            let comment: Vec<String> = component
                .properties
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            package["comment"] = Value::String(comment.join("; "));
        }
        relationships.push(json!({
            "spdxElementId": ENVIRONMENT_ID,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
        packages.push(package);
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}:{}", input.env_name, input.env_version),
        "documentNamespace": format!("urn:uuid:{}", derived_uuid(input, "spdx")),
        "creationInfo": {
            "created": strata_store::format_time(input.locked_at),
            "creators": [format!("Tool: strata-{}", input.tool_version)],
        },
        "packages": packages,
        "relationships": relationships,
    })
}
