//! Differences between two definitions: packages (conda, pip, channels) and every other field.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::environment::Environment;
use crate::match_spec::MatchSpec;
use crate::pip::PipEntry;

/// What changed between two definitions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnvironmentDiff {
    pub conda: Vec<Change>,
    pub pip: Vec<Change>,
    pub channels: Vec<Change>,
    pub fields: Vec<Change>,
}

/// One changed item: a package (keyed by name) or a field (keyed by its JSON path).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl Change {
    pub fn kind(&self) -> &'static str {
        match (&self.old, &self.new) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            _ => "changed",
        }
    }
}

impl EnvironmentDiff {
    pub fn between(old: &Environment, new: &Environment) -> Self {
        let conda_of = |environment: &Environment| -> IndexMap<String, String> {
            environment
                .conda()
                .into_iter()
                .flat_map(|c| c.conda_packages())
                .map(|spec| {
                    let key = MatchSpec::parse(spec)
                        .map_or_else(|_| spec.to_string(), |m| m.normalized_name());
                    (key, spec.to_string())
                })
                .collect()
        };
        let pip_of = |environment: &Environment| -> IndexMap<String, String> {
            environment
                .conda()
                .into_iter()
                .flat_map(|c| c.pip_entries())
                .filter_map(|entry| match PipEntry::classify(entry) {
                    Ok(PipEntry::Requirement {
                        name: Some(name),
                        text,
                    }) => Some((name, text)),
                    Ok(PipEntry::Requirement { name: None, text } | PipEntry::Option(text)) => {
                        Some((text.clone(), text))
                    }
                    _ => None,
                })
                .collect()
        };
        let channels_of = |environment: &Environment| -> IndexMap<String, String> {
            environment
                .conda()
                .into_iter()
                .flat_map(|c| c.channels.iter())
                .enumerate()
                .map(|(index, channel)| {
                    (
                        channel.clone(),
                        format!("{} (position {})", channel, index + 1),
                    )
                })
                .collect()
        };
        Self {
            conda: compare(&conda_of(old), &conda_of(new)),
            pip: compare(&pip_of(old), &pip_of(new)),
            channels: compare(&channels_of(old), &channels_of(new)),
            fields: compare(&fields_of(old), &fields_of(new)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.conda.is_empty()
            && self.pip.is_empty()
            && self.channels.is_empty()
            && self.fields.is_empty()
    }
}

fn compare(old: &IndexMap<String, String>, new: &IndexMap<String, String>) -> Vec<Change> {
    let mut changes = Vec::new();
    for (key, old_value) in old {
        match new.get(key) {
            Some(new_value) if new_value == old_value => {}
            new_value => changes.push(Change {
                key: key.clone(),
                old: Some(old_value.clone()),
                new: new_value.cloned(),
            }),
        }
    }
    for (key, new_value) in new {
        if !old.contains_key(key) {
            changes.push(Change {
                key: key.clone(),
                old: None,
                new: Some(new_value.clone()),
            });
        }
    }
    changes
}

/// Every scalar field of the definition by dotted path, the conda specification and the
/// version excluded (packages are compared on their own; versions always differ).
fn fields_of(environment: &Environment) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    let mut value = environment.to_azure_dict();
    if let Some(object) = value.as_object_mut() {
        object.remove("version");
        object.remove("assetId");
        if let Some(python) = object.get_mut("python").and_then(Value::as_object_mut) {
            python.remove("condaDependencies");
        }
        if !environment.metadata.is_empty() {
            object.insert(
                "metadata".to_string(),
                serde_json::to_value(&environment.metadata).unwrap_or(Value::Null),
            );
        }
    }
    flatten("", &value, &mut out);
    out
}

fn flatten(prefix: &str, value: &Value, out: &mut IndexMap<String, String>) {
    match value {
        // An empty object has no fields; its keys appear as added when it gains some.
        Value::Object(object) => {
            for (key, entry) in object {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, entry, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_packages_and_fields() {
        let old = Environment::from_pip_requirements(
            "e",
            vec!["six==1.16.0".into(), "attrs".into()],
            None,
        );
        let mut new = old.clone();
        new.add_pip_package("six==1.17.0").unwrap();
        new.add_pip_package("packaging").unwrap();
        new.add_conda_package("numpy=1.26").unwrap();
        new.variables_mut().insert("A".into(), "1".into());
        let diff = EnvironmentDiff::between(&old, &new);
        let render = |changes: &[Change]| -> Vec<String> {
            changes
                .iter()
                .map(|c| format!("{} {} {:?} -> {:?}", c.kind(), c.key, c.old, c.new))
                .collect()
        };
        insta::assert_debug_snapshot!((render(&diff.conda), render(&diff.pip), render(&diff.channels), render(&diff.fields)), @r#"
        (
            [
                "added numpy None -> Some(\"numpy=1.26\")",
            ],
            [
                "changed six Some(\"six==1.16.0\") -> Some(\"six==1.17.0\")",
                "added packaging None -> Some(\"packaging\")",
            ],
            [
                "added conda-forge None -> Some(\"conda-forge (position 1)\")",
            ],
            [
                "added environmentVariables.A None -> Some(\"1\")",
            ],
        )
        "#);
    }
}
