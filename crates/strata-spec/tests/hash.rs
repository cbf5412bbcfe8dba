//! Properties of the spec hash: what must not change it, and what must.

use proptest::prelude::*;
use serde_json::Value;
use strata_spec::{Environment, SpecHash, V1Files};

#[derive(Debug, Clone)]
struct Definition {
    name: String,
    version: Option<u32>,
    description: Option<String>,
    variables: Vec<(String, String)>,
    channels: Vec<String>,
    conda: Vec<String>,
    pip: Vec<String>,
    base_image: Option<String>,
    dockerfile: Option<String>,
    arm: bool,
}

fn package() -> impl Strategy<Value = String> {
    ("[a-z][a-z0-9]{1,6}", 0u8..3, 0u8..20, 0u8..10)
        .prop_map(|(name, major, minor, patch)| format!("{name}=={major}.{minor}.{patch}"))
}

fn conda_package() -> impl Strategy<Value = String> {
    ("[a-z][a-z0-9]{1,6}", 0u8..3, 0u8..20)
        .prop_map(|(name, major, minor)| format!("{name}={major}.{minor}"))
}

fn unique(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|item| {
            seen.insert(
                item.split(['=', '<', '>'])
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn definition() -> impl Strategy<Value = Definition> {
    (
        "[a-z][a-z0-9-]{0,10}",
        proptest::option::of(1u32..50),
        proptest::option::of("[a-zA-Z ]{0,20}"),
        proptest::collection::vec(("[A-Z]{1,5}", "[a-z0-9]{0,5}"), 0..3),
        proptest::collection::vec("[a-z]{2,8}", 0..3),
        proptest::collection::vec(conda_package(), 0..4),
        proptest::collection::vec(package(), 0..5),
        proptest::option::of("[a-z]{2,8}:[0-9]{1,2}"),
        proptest::option::of("FROM [a-z]{2,8}\nRUN echo [a-z]{1,8}\n"),
        any::<bool>(),
    )
        .prop_map(
            |(
                name,
                version,
                description,
                variables,
                channels,
                conda,
                pip,
                base_image,
                dockerfile,
                arm,
            )| Definition {
                name,
                version,
                description,
                variables,
                channels: unique(channels),
                conda: unique(conda),
                pip: unique(pip),
                base_image,
                dockerfile,
                arm,
            },
        )
}

fn build(definition: &Definition) -> Environment {
    let mut environment =
        Environment::from_pip_requirements(&definition.name, definition.pip.clone(), None);
    for spec in &definition.conda {
        environment.add_conda_package(spec).unwrap();
    }
    let conda = environment
        .python
        .conda_dependencies
        .as_mut()
        .unwrap()
        .spec_mut();
    conda.channels = definition.channels.clone();
    environment.version = definition.version.map(|v| v.to_string());
    environment.metadata.description = definition.description.clone();
    environment.environment_variables = Some(definition.variables.iter().cloned().collect());
    environment.docker.base_image = definition.base_image.clone();
    environment.docker.base_dockerfile = definition.dockerfile.clone();
    if definition.arm {
        environment.docker.platform.architecture = "arm64".to_string();
    }
    environment
}

fn hash(environment: &Environment) -> SpecHash {
    SpecHash::of(environment)
}

/// Rewrites the files a definition is stored in: JSON keys in reverse order and compact, YAML
/// keys in reverse order, CRLF line endings, Dockerfile with CRLF.
fn reformat(files: &V1Files) -> V1Files {
    fn reverse(value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .rev()
                    .map(|(k, v)| (k, reverse(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(reverse).collect()),
            other => other,
        }
    }
    let json: Value = serde_json::from_str(&files.environment_json).unwrap();
    let yaml = files.conda_dependencies.as_ref().map(|text| {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
        let serde_yaml_ng::Value::Mapping(mapping) = value else {
            panic!()
        };
        let mut entries: Vec<_> = mapping.into_iter().collect();
        entries.reverse();
        let reversed: serde_yaml_ng::Mapping = entries.into_iter().collect();
        serde_yaml_ng::to_string(&reversed)
            .unwrap()
            .replace('\n', "\r\n")
    });
    V1Files {
        environment_json: serde_json::to_string(&reverse(json)).unwrap(),
        conda_dependencies: yaml,
        base_dockerfile: files
            .base_dockerfile
            .as_ref()
            .map(|d| d.replace('\n', "\r\n")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn formatting_and_identity_fields_do_not_change_the_hash(definition in definition(), other_name in "[a-z]{3,9}", other_version in 51u32..99) {
        let environment = build(&definition);
        let original = hash(&environment);
        let reread = Environment::from_v1_files(&reformat(&environment.to_v1_files()), "test").unwrap().value;
        prop_assert_eq!(&original, &hash(&reread));
        // parse(render(x)) renders as x.
        let files = environment.to_v1_files();
        let parsed = Environment::from_v1_files(&files, "test").unwrap().value;
        prop_assert_eq!(parsed.to_v1_files(), files);
        let mut renamed = environment.clone();
        renamed.name = Some(other_name);
        renamed.version = Some(other_version.to_string());
        renamed.metadata.description = Some("another description".to_string());
        renamed.variables_mut().insert("EXTRA".to_string(), "1".to_string());
        renamed.asset_id = Some("asset".to_string());
        prop_assert_eq!(&original, &hash(&renamed));
    }

    #[test]
    fn software_changes_change_the_hash(definition in definition(), byte in 0usize..40) {
        let environment = build(&definition);
        let original = hash(&environment);

        let mut changed = environment.clone();
        changed.add_pip_package("zzextra==1.0").unwrap();
        prop_assert_ne!(&original, &hash(&changed));

        let mut changed = environment.clone();
        changed.add_conda_package("zzconda=1.0").unwrap();
        prop_assert_ne!(&original, &hash(&changed));

        if let Some(first) = definition.pip.first() {
            let mut changed = environment.clone();
            changed.add_pip_package(&first.replace("==", "==9")).unwrap();
            prop_assert_ne!(&original, &hash(&changed));
        }

        let mut changed = environment.clone();
        changed.python.conda_dependencies.as_mut().unwrap().spec_mut().channels.push("zzchannel".to_string());
        prop_assert_ne!(&original, &hash(&changed));

        let mut changed = environment.clone();
        changed.docker.base_image = Some(format!("{}-other", definition.base_image.clone().unwrap_or_default()));
        prop_assert_ne!(&original, &hash(&changed));

        let mut changed = environment.clone();
        changed.docker.platform.os = "Windows".to_string();
        prop_assert_ne!(&original, &hash(&changed));

        if let Some(dockerfile) = &definition.dockerfile {
            let mut bytes = dockerfile.clone().into_bytes();
            let index = byte % bytes.len();
            bytes[index] = if bytes[index] == b'x' { b'y' } else { b'x' };
            let mut changed = environment.clone();
            changed.docker.base_dockerfile = Some(String::from_utf8(bytes).unwrap());
            prop_assert_ne!(&original, &hash(&changed));
        }
    }

    #[test]
    fn dependency_order_is_part_of_the_hash(definition in definition()) {
        prop_assume!(definition.pip.len() >= 2);
        let environment = build(&definition);
        let mut reordered = definition.clone();
        reordered.pip.reverse();
        prop_assert_ne!(hash(&environment), hash(&build(&reordered)));
    }
}
