//! CycloneDX 1.5 JSON (<https://cyclonedx.org/docs/1.5/json/>).

use serde_json::{Value, json};

use super::{SbomInput, components, derived_uuid, environment_properties, properties_json};

/// The `bom-ref` of the environment version itself.
const ENVIRONMENT_REF: &str = "strata-environment";

pub(super) fn document(input: &SbomInput<'_>) -> Value {
    let components = components(input.lock);
    let refs: Vec<&str> = components.iter().map(|c| c.purl.as_str()).collect();
    let component_values: Vec<Value> = components
        .iter()
        .map(|component| {
            let mut value = json!({
                "type": if component.ecosystem == "oci" { "container" } else { "library" },
                "bom-ref": component.purl,
                "name": component.name,
                "version": component.version,
                "purl": component.purl,
            });
            if !component.hashes.is_empty() {
                value["hashes"] = component
                    .hashes
                    .iter()
                    .map(|(algorithm, content)| json!({"alg": algorithm, "content": content}))
                    .collect();
            }
            if let Some(url) = &component.download {
                value["externalReferences"] = json!([{"type": "distribution", "url": url}]);
            }
            let mut properties = vec![("strata:ecosystem", component.ecosystem.to_string())];
            properties.extend(component.properties.iter().cloned());
            value["properties"] = properties_json(&properties);
            value
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", derived_uuid(input, "cyclonedx")),
        "version": 1,
        "metadata": {
            "timestamp": strata_store::format_time(input.locked_at),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "strata",
                    "version": input.tool_version,
                }]
            },
            "component": {
                "type": "application",
                "bom-ref": ENVIRONMENT_REF,
                "name": input.env_name,
                "version": input.env_version.to_string(),
                "properties": properties_json(&environment_properties(input)),
            },
        },
        "components": component_values,
        "dependencies": [{"ref": ENVIRONMENT_REF, "dependsOn": refs}],
    })
}
