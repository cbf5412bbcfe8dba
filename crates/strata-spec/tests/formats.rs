//! Every file the Azure ML SDK wrote must read back and write out unchanged.

use std::path::{Path, PathBuf};

use strata_spec::{Environment, SpecHash, read_v1_dir, read_v2_file};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-data/azureml")
}

fn saved_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs_err::read_dir(fixtures().join("v1"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("saved"))
        .filter(|dir| dir.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 14,
        "expected every v1 fixture, found {}",
        dirs.len()
    );
    dirs
}

#[test]
fn v1_directories_round_trip_byte_for_byte() {
    for dir in saved_dirs() {
        let parsed = read_v1_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        // The SDK's `from_pip_requirements` copies `-r` lines into the `pip:` list; they are
        // read (losslessly) with a warning that they cannot be registered.
        let unexpected: Vec<_> = parsed
            .warnings
            .iter()
            .filter(|w| !w.contains("cannot include a requirements file"))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{}: {:?}",
            dir.display(),
            parsed.warnings
        );
        let files = parsed.value.to_v1_files();
        let read = |name: &str| fs_err::read_to_string(dir.join(name)).ok();
        assert_eq!(
            Some(files.environment_json),
            read("azureml_environment.json"),
            "{}",
            dir.display()
        );
        assert_eq!(
            files.conda_dependencies,
            read("conda_dependencies.yml"),
            "{}",
            dir.display()
        );
        assert_eq!(
            files.base_dockerfile,
            read("BaseDockerfile"),
            "{}",
            dir.display()
        );
    }
}

#[test]
fn rendered_conda_yaml_keeps_the_data() {
    // After an edit the YAML is rendered afresh: comments go, data stays.
    for dir in saved_dirs() {
        let environment = read_v1_dir(&dir).unwrap().value;
        let Some(conda) = environment.conda() else {
            continue;
        };
        let rendered = conda.to_yaml();
        let original: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            &fs_err::read_to_string(dir.join("conda_dependencies.yml")).unwrap(),
        )
        .unwrap();
        let again: serde_yaml_ng::Value = serde_yaml_ng::from_str(&rendered).unwrap();
        assert_eq!(original, again, "{}", dir.display());
    }
}

#[test]
fn repr_matches_the_sdk_dict() {
    for dir in saved_dirs() {
        let repr = dir.parent().unwrap().join("repr.json");
        if !repr.exists() {
            continue;
        }
        let expected: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(&repr).unwrap()).unwrap();
        let environment = read_v1_dir(&dir).unwrap().value;
        assert_eq!(environment.to_azure_dict(), expected, "{}", dir.display());
    }
}

#[test]
fn unknown_and_miscased_keys_warn_and_survive() {
    let dir = fixtures().join("v1/load_edge_cases/wrong_key_case");
    let parsed = read_v1_dir(&dir).unwrap();
    assert_eq!(parsed.warnings.len(), 1);
    assert!(
        parsed.warnings[0].contains("`Name`") && parsed.warnings[0].contains("`Python`"),
        "{:?}",
        parsed.warnings
    );
    assert!(parsed.warnings[0].contains("wrong_key_case/azureml_environment.json"));
    let json = parsed.value.to_v1_files().environment_json;
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["Name"], "caps");
    assert_eq!(value["Python"]["InterpreterPath"], "/x");

    let partial = read_v1_dir(&fixtures().join("v1/load_edge_cases/partial_unknown_key")).unwrap();
    assert!(partial.warnings[0].contains("`unknownKey`"));
    // Missing keys take Azure ML's load defaults, as `load_from_directory` does.
    let expected = &serde_json::from_str::<serde_json::Value>(
        &fs_err::read_to_string(fixtures().join("v1/load_edge_cases/results.json")).unwrap(),
    )
    .unwrap()["partial_unknown_key"]["serialized"];
    let mut written: serde_json::Value =
        serde_json::from_str(&partial.value.to_v1_files().environment_json).unwrap();
    written.as_object_mut().unwrap().remove("unknownKey");
    assert_eq!(&written, expected);
}

#[test]
fn wrong_type_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("azureml_environment.json"),
        "{\n    \"name\": \"x\",\n    \"docker\": {\n        \"baseImage\": 3\n    }\n}",
    )
    .unwrap();
    let error = read_v1_dir(dir.path()).unwrap_err().to_string();
    let error = error.replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!(error, @"Invalid `[DIR]/azureml_environment.json` at line 4, column 22, field `docker.baseImage`: invalid type: integer `3`, expected a string");
}

#[test]
fn malformed_json_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("azureml_environment.json"),
        "{\n  \"name\": \"x\",\n}",
    )
    .unwrap();
    let error = read_v1_dir(dir.path()).unwrap_err().to_string();
    let error = error.replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!(error, @"Invalid `[DIR]/azureml_environment.json` at line 3, column 1: trailing comma");
}

#[test]
fn v2_files_read_like_the_sdk() {
    let v2 = fixtures().join("v2");
    let image = read_v2_file(&v2.join("env_image_conda.yml"))
        .unwrap()
        .value
        .environment;
    assert_eq!(
        image.name.as_deref(),
        Some("docker-image-plus-conda-example")
    );
    assert_eq!(image.version.as_deref(), Some("1"));
    assert_eq!(
        image.docker.base_image.as_deref(),
        Some("mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04")
    );
    assert!(!image.python.user_managed_dependencies);
    assert_eq!(image.metadata.tags["team"], "ml");
    // `dump()` output of the SDK is the same data as our v2 rendering.
    let dumped: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &fs_err::read_to_string(v2.join("env_image_conda.dumped.yml")).unwrap(),
    )
    .unwrap();
    let ours: serde_yaml_ng::Value = serde_yaml_ng::from_str(&image.to_v2_yaml()).unwrap();
    assert_eq!(ours, dumped);

    let inference = read_v2_file(&v2.join("env_inference.yml"))
        .unwrap()
        .value
        .environment;
    assert_eq!(inference.version.as_deref(), Some("3"));
    assert!(inference.python.user_managed_dependencies);
    let dumped: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &fs_err::read_to_string(v2.join("env_inference.dumped.yml")).unwrap(),
    )
    .unwrap();
    let ours: serde_yaml_ng::Value = serde_yaml_ng::from_str(&inference.to_v2_yaml()).unwrap();
    assert_eq!(ours, dumped);

    let build = read_v2_file(&v2.join("env_build.yml")).unwrap().value;
    assert!(build.build_dir.unwrap().ends_with("build_ctx"));
    assert_eq!(
        build
            .environment
            .docker
            .build_context
            .unwrap()
            .dockerfile_path,
        "Dockerfile"
    );

    let both = read_v2_file(&v2.join("env_bad_both.yml"))
        .unwrap_err()
        .to_string();
    assert!(both.contains("not both"), "{both}");
    let inline = read_v2_file(&v2.join("env_bad_conda_inline.yml"))
        .unwrap_err()
        .to_string();
    assert!(inline.contains("--conda-file"), "{inline}");
}

#[test]
fn fixture_hashes_are_stable() {
    // Changing the canonical form changes every stored hash: this pins it.
    let plain = read_v1_dir(&fixtures().join("v1/plain/saved"))
        .unwrap()
        .value;
    insta::assert_snapshot!(strata_spec::canonical_form(&plain), @r#"
    strata-spec-hash-v1
    {"docker":{"baseImage":"mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20251130.v1"},"python":{"channels":["anaconda","conda-forge"],"conda":["python=3.8.13"],"pip":["azureml-defaults"]}}
    "#);
    insta::assert_snapshot!(SpecHash::of(&plain).to_string(), @"32f8bdf7844a22b23fb2eea9e07b6b24eeb2dc610316fe97080af2def4c1b76b");
    let _ = Environment::scaffold("x");
}

/// Copies `from` into `to`, every file with a UTF-8 byte-order mark in front.
fn copy_with_byte_order_marks(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let mut bytes = b"\xef\xbb\xbf".to_vec();
            bytes.extend(fs_err::read(&path).unwrap());
            fs_err::write(to.join(path.file_name().unwrap()), bytes).unwrap();
        }
    }
}

/// Issue #11, item 13: files saved by Windows editors start with a byte-order mark; Python and
/// pip read them, so every format does.
#[test]
fn byte_order_marks_are_accepted_in_every_format() {
    let temp = tempfile::tempdir().unwrap();
    for name in ["conda_spec", "base_dockerfile"] {
        let saved = fixtures().join("v1").join(name).join("saved");
        let copy = temp.path().join(name);
        copy_with_byte_order_marks(&saved, &copy);
        let with_marks = read_v1_dir(&copy).unwrap_or_else(|e| panic!("{name}: {e}"));
        let without = read_v1_dir(&saved).unwrap();
        assert_eq!(with_marks.value, without.value, "{name}");
    }

    let v2 = temp.path().join("v2");
    copy_with_byte_order_marks(&fixtures().join("v2"), &v2);
    let with_marks = read_v2_file(&v2.join("env_image_conda.yml")).unwrap();
    let without = read_v2_file(&fixtures().join("v2/env_image_conda.yml")).unwrap();
    assert_eq!(with_marks.value, without.value);
}

/// Issue #11, item 12: a number where Azure ML wants a string is refused with the field named,
/// not converted (`"name": 12345` registered `12345:1`, `image: 5` the base image `5`).
#[test]
fn wrong_scalar_types_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("azureml_environment.json"),
        "{\n    \"name\": 12345\n}",
    )
    .unwrap();
    let error = read_v1_dir(dir.path()).unwrap_err().to_string();
    let error = error.replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!(error, @"Invalid `[DIR]/azureml_environment.json` at line 2, column 17, field `name`: invalid type: integer `12345`, expected a string");

    let v2 = |text: &str| {
        strata_spec::parse_v2(text, "env.yml", dir.path()).map(|parsed| parsed.value.environment)
    };
    let errors: Vec<String> = [
        "name: x\nimage: 5\n",
        "name: 12345\nimage: ubuntu\n",
        "name: x\nimage: ubuntu\ndescription: true\n",
        "name: x\nimage: ubuntu\nos_type: [linux]\n",
        "name: x\nimage: ubuntu\ntags:\n  team: ml\n  year: 2024\n",
        "name: x\nbuild:\n  path: 5\n",
        "name: x\nbuild:\n  path: ctx\n  dockerfile_path: 7\n",
    ]
    .iter()
    .map(|text| v2(text).unwrap_err().to_string())
    .collect();
    insta::assert_snapshot!(errors.join("\n"), @r"
    Invalid `env.yml` at line 2, column 1, field `image`: expected a string, found the number `5` (quote it)
    Invalid `env.yml` at line 1, column 1, field `name`: expected a string, found the number `12345` (quote it)
    Invalid `env.yml` at line 3, column 1, field `description`: expected a string, found the boolean `true` (quote it)
    Invalid `env.yml` at line 3, column 1, field `os_type`: expected a string, found a list
    Invalid `env.yml` at line 5, column 3, field `tags.year`: expected a string, found the number `2024` (quote it)
    Invalid `env.yml` at line 3, column 3, field `build.path`: expected a string, found the number `5` (quote it)
    Invalid `env.yml` at line 4, column 3, field `build.dockerfile_path`: expected a string, found the number `7` (quote it)
    ");

    // Versions are strings that Azure ML also accepts as numbers.
    let environment = v2("name: x\nimage: ubuntu\nversion: 5\n").unwrap();
    assert_eq!(environment.version.as_deref(), Some("5"));
    let environment = v2("name: x\nimage: ubuntu\nversion: 1.0\n").unwrap();
    assert_eq!(environment.version.as_deref(), Some("1.0"));
    let environment = v2("name: x\nimage: ubuntu\nversion: 22.02-py3\n").unwrap();
    assert_eq!(environment.version.as_deref(), Some("22.02-py3"));

    let conda = strata_spec::CondaSpec::parse("name: 12345\ndependencies: [numpy]\n", "env.yml")
        .unwrap_err()
        .to_string();
    insta::assert_snapshot!(conda, @"Invalid `env.yml` at line 1, column 1, field `name`: expected a string, found the number `12345` (quote it)");
}

/// Issue #11, item 11: `null` lists stay `null` and `[]` stays `[]`, in every section (the SDK
/// writes `null` R package lists); both mean the same software, so the hash is the same.
#[test]
fn null_and_empty_lists_round_trip_as_written() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-data/v1-null-lists");
    let written = fs_err::read_to_string(dir.join("azureml_environment.json")).unwrap();
    let parsed = read_v1_dir(&dir).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(parsed.value.to_v1_files().environment_json, written);

    let empty = written
        .replace(
            "\"environmentVariables\": null",
            "\"environmentVariables\": {}",
        )
        .replace(
            ": null,\n        \"packages\"",
            ": [],\n        \"packages\"",
        )
        .replace("Packages\": null", "Packages\": []")
        .replace("Libraries\": null", "Libraries\": []")
        .replace("\"arguments\": null", "\"arguments\": []");
    assert!(!empty.contains("Packages\": null") && empty.contains("\"repositories\": []"));
    let files = strata_spec::V1Files {
        environment_json: empty.clone(),
        conda_dependencies: None,
        base_dockerfile: None,
    };
    let with_empty = Environment::from_v1_files(&files, "x").unwrap().value;
    assert_eq!(with_empty.to_v1_files().environment_json, empty);
    let mut with_null = parsed.value;
    with_null.python.conda_dependencies = None;
    assert_ne!(with_null, with_empty);
    assert_eq!(SpecHash::of(&with_null), SpecHash::of(&with_empty));
}
