//! `strata init` and `strata env ...`.

use insta::assert_snapshot;
use serde_json::Value;

use crate::common::{TestContext, test_data};

#[test]
fn init_twice_and_missing_workspace_are_user_errors() {
    let context = TestContext::bare();
    assert_snapshot!(context.run(&["env", "list"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: No Strata workspace found in `[TEMP]` or any parent directory
    hint: Run `strata init` to create one here, or point to one with `--workspace DIR` or `STRATA_WORKSPACE`
    ");
    assert_snapshot!(context.run(&["init"]), @"
    exit_code: 0
    ----- stdout -----
    Initialized an empty Strata workspace in [TEMP]/.strata
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["init"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: A workspace already exists at `[TEMP]/.strata`
    hint: Use the existing workspace, or pick another directory
    ");
    // Found from a subdirectory, and through `--workspace` / `STRATA_WORKSPACE`.
    fs_err::create_dir_all(context.path().join("a/b")).unwrap();
    let nested = context.output(
        context
            .command()
            .current_dir(context.path().join("a/b"))
            .args(["env", "list", "--json"]),
    );
    assert_eq!(nested.code, 0, "{nested}");
    let elsewhere = TestContext::bare();
    let via_env = elsewhere.output(
        elsewhere
            .command()
            .env("STRATA_WORKSPACE", context.path())
            .args(["env", "show", "Strata-Minimal", "--json"]),
    );
    assert_eq!(via_env.code, 0, "{via_env}");
    let bad = elsewhere.run(&["--workspace", "nowhere", "env", "list"]);
    assert_snapshot!(bad, @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `[TEMP]/nowhere` is not a Strata workspace (no `strata.db`)
    hint: Create one with `strata init DIR`, or check the path
    ");
}

#[test]
fn scaffold_register_version_list_diff_download() {
    let context = TestContext::new();
    assert_snapshot!(context.run(&["env", "scaffold", "-n", "myenv", "-d", "myenvdir"]), @"
    exit_code: 0
    ----- stdout -----
    Wrote environment `myenv` to myenvdir (azureml_environment.json, conda_dependencies.yml)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "scaffold", "-n", "myenv", "-d", "myenvdir"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Directory `myenvdir` already exists (pass `--overwrite` to replace its environment files)
    ");
    assert_snapshot!(context.run(&["env", "register", "-d", "myenvdir"]), @"
    exit_code: 0
    ----- stdout -----
    Registered myenv:1 (spec hash 863377bda84510f4104cb796662ae5dd)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "register", "-d", "myenvdir"]), @"
    exit_code: 0
    ----- stdout -----
    myenv:1 is unchanged (spec hash 863377bda84510f4104cb796662ae5dd); no new version
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "add-package", "myenv", "numpy==1.26.4", "--conda"]), @"
    exit_code: 0
    ----- stdout -----
    Registered myenv:2 (spec hash 59afee84a24230871a2bd3281ecaded4)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "add-package", "myenv", "pillow", "requests>=2", "--pip"]), @"
    exit_code: 0
    ----- stdout -----
    Registered myenv:3 (spec hash fe552e45568dbc83d759378382be5a21)
    ----- stderr -----
    ");
    // Same name replaces the entry.
    assert_snapshot!(context.run(&["env", "add-package", "myenv", "pillow==10.4.0", "--pip"]), @"
    exit_code: 0
    ----- stdout -----
    Registered myenv:4 (spec hash 07ec36dea566fa49a23a49906f17a578)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "list"]), @"
    exit_code: 0
    ----- stdout -----
    NAME             VERSION  KIND   SPEC HASH     CREATED               DESCRIPTION
    Strata-Minimal   1        pip    863377bda845  [TIME]  curated
    Strata-Tutorial  1        pip    b4a90bd5a063  [TIME]  curated
    myenv            4        conda  07ec36dea566  [TIME]
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "list", "--all-versions"]), @"
    exit_code: 0
    ----- stdout -----
    NAME             VERSION  KIND   SPEC HASH     CREATED               DESCRIPTION
    Strata-Minimal   1        pip    863377bda845  [TIME]  curated
    Strata-Tutorial  1        pip    b4a90bd5a063  [TIME]  curated
    myenv            1        pip    863377bda845  [TIME]
    myenv            2        conda  59afee84a242  [TIME]
    myenv            3        conda  fe552e45568d  [TIME]
    myenv            4        conda  07ec36dea566  [TIME]
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "diff", "myenv:1", "myenv:4"]), @"
    exit_code: 0
    ----- stdout -----
    --- myenv:1  (spec hash 863377bda84510f4104cb796662ae5dd)
    +++ myenv:4  (spec hash 07ec36dea566fa49a23a49906f17a578)
    + conda    numpy==1.26.4
    + pip      requests>=2
    + pip      pillow==10.4.0
    + channel  conda-forge (position 1)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "show", "myenv:3"]), @"
    exit_code: 0
    ----- stdout -----
    Name:      myenv
    Version:   3
    Spec hash: fe552e45568dbc83d759378382be5a21bfd759dc4cf51ebf5cce0fcc4aab6a04
    Kind:      conda
    Created:   [TIME]

    conda_dependencies.yml:
      name: project_environment
      dependencies:
      - python=3.11
      - pip
      - pip:
        - pillow
        - requests>=2
      - numpy==1.26.4
      channels:
      - conda-forge
    ----- stderr -----
    ");
    let show = context.json(&["env", "show", "myenv", "--json"]);
    assert_eq!(show["version"], 4);
    assert_eq!(show["definition"]["name"], "myenv");
    assert_eq!(show["definition"]["version"], "4");
    assert_eq!(
        show["definition"]["python"]["condaDependencies"]["dependencies"][2]["pip"],
        serde_json::json!(["requests>=2", "pillow==10.4.0"])
    );
    let list = context.json(&["env", "list", "--all-versions", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 6);

    assert_snapshot!(context.run(&["env", "download", "-n", "myenv", "-v", "2", "-d", "out"]), @"
    exit_code: 0
    ----- stdout -----
    Downloaded myenv:2 to out
    ----- stderr -----
    ");
    assert_snapshot!(context.read("out/conda_dependencies.yml"), @"
    name: project_environment
    dependencies:
    - python=3.11
    - pip
    - pip: []
    - numpy==1.26.4
    channels:
    - conda-forge
    ");
    assert_snapshot!(context.run(&["env", "download", "-n", "myenv", "-d", "out"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Directory `out` already exists (pass `--overwrite` to replace its environment files)
    ");
    assert_eq!(
        context
            .run(&["env", "download", "-n", "myenv", "-d", "out", "--overwrite"])
            .code,
        0
    );
    // The downloaded latest version registers as itself.
    assert_snapshot!(context.run(&["env", "register", "-d", "out"]), @"
    exit_code: 0
    ----- stdout -----
    myenv:4 is unchanged (spec hash 07ec36dea566fa49a23a49906f17a578); no new version
    ----- stderr -----
    ");
    assert_eq!(
        context
            .run(&[
                "env", "download", "-n", "myenv", "-d", "v2", "--format", "v2"
            ])
            .code,
        0
    );
    assert_snapshot!(context.read("v2/environment.yml"), @"
    conda_file:
      channels:
      - conda-forge
      dependencies:
      - python=3.11
      - pip
      - pip:
        - requests>=2
        - pillow==10.4.0
      - numpy==1.26.4
      name: project_environment
    name: myenv
    tags: {}
    version: '4'
    ");
}

/// Register → download keeps every file the Azure ML SDK wrote: same JSON (values and key
/// order) apart from the version the registry assigns and the password it refuses to keep,
/// same conda YAML byte for byte, same Dockerfile.
#[test]
fn every_v1_fixture_round_trips_through_the_registry() {
    let context = TestContext::new();
    let mut dirs: Vec<_> = fs_err::read_dir(test_data().join("azureml/v1"))
        .unwrap()
        .map(|e| e.unwrap().path().join("saved"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 14);
    for (index, dir) in dirs.iter().enumerate() {
        let name = format!("fixture{index}");
        // The SDK copied `-r other.txt` into this one's `pip:` list: it reads and writes back
        // byte for byte (strata-spec's round trip), but pip would read any path at build time,
        // so it cannot be registered (issue #11, item 5).
        if dir.ends_with("pip_requirements_quirks/saved") {
            let output = context.run(&[
                "env",
                "register",
                "-d",
                dir.to_str().unwrap(),
                "--name",
                &name,
            ]);
            assert_eq!(output.code, 1, "{output}");
            assert!(
                output
                    .stderr
                    .contains("cannot include a requirements file (`-r other.txt`)"),
                "{output}"
            );
            continue;
        }
        let registered = context.json(&[
            "env",
            "register",
            "-d",
            dir.to_str().unwrap(),
            "--name",
            &name,
            "--json",
        ]);
        let version = registered["version"].as_u64().unwrap();
        let out = format!("out{index}");
        context.ok(&["env", "download", "-n", &name, "-d", &out]);
        let original = fs_err::read_to_string(dir.join("azureml_environment.json")).unwrap();
        let mut expected: Value = serde_json::from_str(&original).unwrap();
        expected["name"] = Value::String(name.clone());
        expected["version"] = Value::String(version.to_string());
        if let Some(registry) = expected.pointer_mut("/docker/baseImageRegistry/password") {
            *registry = Value::Null;
        }
        let downloaded = context.read(&format!("{out}/azureml_environment.json"));
        let actual: Value = serde_json::from_str(&downloaded).unwrap();
        assert_eq!(actual, expected, "{}", dir.display());
        // Key order and formatting: the text equals the SDK's with the same substitutions.
        assert_eq!(downloaded, python_json(&expected), "{}", dir.display());
        for file in ["conda_dependencies.yml", "BaseDockerfile"] {
            let original = fs_err::read(dir.join(file)).ok();
            let downloaded = fs_err::read(context.path().join(&out).join(file)).ok();
            assert_eq!(original, downloaded, "{} {file}", dir.display());
        }
    }
}

/// `json.dumps(value, indent=4)` as Python writes it (the fixtures are ASCII).
fn python_json(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn registry_passwords_are_never_stored() {
    let context = TestContext::new();
    let dir = test_data().join("azureml/v1/docker_base_image/saved");
    assert_snapshot!(context.run(&["env", "register", "-d", dir.to_str().unwrap()]), @r#"
    exit_code: 0
    ----- stdout -----
    Registered docker-image-env:1 (spec hash fcf301ba1abc890a0c144304f3347978)
    ----- stderr -----
    warning: The registry password in the definition was not stored: Strata never keeps credentials. Put it in an environment variable and name that variable in the definition instead, e.g. `"password": "${STRATA_REGISTRY_PASSWORD}"`
    "#);
    let show = context.json(&["env", "show", "docker-image-env", "--json"]);
    assert_eq!(
        show["definition"]["docker"]["baseImageRegistry"]["password"],
        Value::Null
    );
    assert_eq!(
        show["definition"]["docker"]["baseImageRegistry"]["username"],
        "myuser"
    );
    let db = fs_err::read(context.path().join(".strata/strata.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("mypassword"));
    // A reference to an environment variable is not a secret and is kept.
    let text = fs_err::read_to_string(dir.join("azureml_environment.json"))
        .unwrap()
        .replace("mypassword", "${STRATA_REGISTRY_PASSWORD}");
    context.write("withref/azureml_environment.json", &text);
    let output = context.run(&["env", "register", "-d", "withref", "--name", "withref"]);
    assert!(output.stderr.is_empty(), "{output}");
    let show = context.json(&["env", "show", "withref", "--json"]);
    assert_eq!(
        show["definition"]["docker"]["baseImageRegistry"]["password"],
        "${STRATA_REGISTRY_PASSWORD}"
    );
}

#[test]
fn explicit_versions_conflict_when_content_differs() {
    let context = TestContext::new();
    let dir = test_data().join("azureml/v1/explicit_version/saved");
    assert_snapshot!(context.run(&["env", "register", "-d", dir.to_str().unwrap()]), @"
    exit_code: 0
    ----- stdout -----
    Registered versioned-env:7 (spec hash 32f8bdf7844a22b23fb2eea9e07b6b24)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "register", "-d", dir.to_str().unwrap()]), @"
    exit_code: 0
    ----- stdout -----
    versioned-env:7 is unchanged (spec hash 32f8bdf7844a22b23fb2eea9e07b6b24); no new version
    ----- stderr -----
    ");
    context.ok(&["env", "download", "-n", "versioned-env", "-d", "edit"]);
    let yaml = context
        .read("edit/conda_dependencies.yml")
        .replace("python=3.8.13", "python=3.9");
    context.write("edit/conda_dependencies.yml", &yaml);
    assert_snapshot!(context.run(&["env", "register", "-d", "edit"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Environment `versioned-env:7` already exists with different content (registered spec hash `32f8bdf7844a22b23fb2eea9e07b6b24eeb2dc610316fe97080af2def4c1b76b`, this definition `0f73f4535af92cf4f8734df6821a2fc693483a61f412250db2416f5b337e35a1`); versions are immutable
    hint: Remove `version` from the definition to register it as the next version
    ");
    let list = context.json(&["env", "list", "--all-versions", "--json"]);
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "versioned-env")
            .count(),
        1
    );
}

#[test]
fn other_definition_sources() {
    let context = TestContext::new();
    context.write("reqs/base.txt", "six==1.16.0\n");
    context.write(
        "reqs/requirements.txt",
        "# training deps\n\nnumpy==1.26.4\npandas>=2.0 ; python_version >= \"3.9\"\nrequests[socks]  # http\n-r base.txt\n--extra-index-url https://example.org/simple\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--name", "trainenv", "--requirements", "reqs/requirements.txt"]), @"
    exit_code: 0
    ----- stdout -----
    Registered trainenv:1 (spec hash 6a1d1b63211c96e0d64310683c8e81b2)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "show", "trainenv"]), @r#"
    exit_code: 0
    ----- stdout -----
    Name:      trainenv
    Version:   1
    Spec hash: 6a1d1b63211c96e0d64310683c8e81b25349f772b68f46dc3c30e923128ff998
    Kind:      pip
    Created:   [TIME]

    conda_dependencies.yml:
      name: project_environment
      dependencies:
      - python=3.11
      - pip
      - pip:
        - numpy==1.26.4
        - pandas>=2.0 ; python_version >= "3.9"
        - requests[socks]
        - six==1.16.0
        - --extra-index-url https://example.org/simple
    ----- stderr -----
    "#);

    let conda = test_data().join("azureml/v1/conda_spec/inputs/environment.yml");
    assert_snapshot!(context.run(&["env", "register", "--name", "condaenv", "--conda-file", conda.to_str().unwrap()]), @"
    exit_code: 0
    ----- stdout -----
    Registered condaenv:1 (spec hash 7f9c158c923e8182d6b881df0159836b)
    ----- stderr -----
    ");
    let nopython =
        test_data().join("azureml/v1/conda_spec_no_python/inputs/environment_nopython.yml");
    assert_snapshot!(context.run(&["env", "register", "--name", "nopy", "--conda-file", nopython.to_str().unwrap()]), @"
    exit_code: 0
    ----- stdout -----
    Registered nopy:1 (spec hash b44a481771b52948f1f932b8b1a6349c)
    ----- stderr -----
    warning: No Python version provided, defaulting to `python=3.11`: it was added to the conda dependencies, as Azure ML adds its default (add `python=X.Y` to choose)
    ");

    let v2 = test_data().join("azureml/v2");
    for file in ["env_image_conda.yml", "env_inference.yml", "env_build.yml"] {
        let output = context.run(&["env", "register", "--file", v2.join(file).to_str().unwrap()]);
        assert_eq!(output.code, 0, "{file}: {output}");
    }
    let build = context.json(&["env", "show", "docker-context-example", "--json"]);
    let location = build["definition"]["docker"]["buildContext"]["location"]
        .as_str()
        .unwrap();
    assert!(location.starts_with("strata://contexts/"), "{location}");
    // The hash command, without a workspace, gives the registered spec hash.
    let bare = TestContext::bare();
    let hash = bare.ok(&[
        "env",
        "hash",
        "--file",
        v2.join("env_build.yml").to_str().unwrap(),
    ]);
    assert_eq!(hash.trim(), build["specHash"].as_str().unwrap());
    let inference = context.json(&["env", "show", "custom-inference-env", "--json"]);
    assert_eq!(inference["version"], 3);
    assert_eq!(inference["metadata"]["os_type"], "linux");

    let prefix = test_data().join("conda-prefix/myenv");
    assert_snapshot!(context.run(&["env", "register", "--name", "fromprefix", "--conda-prefix", prefix.to_str().unwrap()]), @"
    exit_code: 0
    ----- stdout -----
    Registered fromprefix:1 (spec hash 7d8295025234334532a142fb9cd2cdf1)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "register", "--name", "img", "--image", "python:3.11-slim"]), @"
    exit_code: 0
    ----- stdout -----
    Registered img:1 (spec hash 93697e895f4c1310aecf7c00adec053f)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "register", "--name", "imgdeps", "--image", "python:3.11-slim", "--requirements", "reqs/base.txt"]), @"
    exit_code: 0
    ----- stdout -----
    Registered imgdeps:1 (spec hash 10aeddf80ff2d0de21fb8d74bdff9cad)
    ----- stderr -----
    ");
    context.write(
        "Dockerfile",
        "FROM python:3.11-slim\r\nRUN pip install six\r\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--name", "df", "--dockerfile", "Dockerfile"]), @"
    exit_code: 0
    ----- stdout -----
    Registered df:1 (spec hash 0171013f16239c94d240b307c3088228)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "list"]), @"
    exit_code: 0
    ----- stdout -----
    NAME                             VERSION  KIND        SPEC HASH     CREATED               DESCRIPTION
    Strata-Minimal                   1        pip         863377bda845  [TIME]  curated
    Strata-Tutorial                  1        pip         b4a90bd5a063  [TIME]  curated
    condaenv                         1        conda       7f9c158c923e  [TIME]
    custom-inference-env             3        image       c958bdcb480c  [TIME]
    df                               1        dockerfile  0171013f1623  [TIME]
    docker-context-example           1        dockerfile  5ead68b73cb9  [TIME]
    docker-image-plus-conda-example  1        image       da8d5646440b  [TIME]  Environment created from a Docker image plus Conda environment.
    fromprefix                       1        conda       7d8295025234  [TIME]
    img                              1        image       93697e895f4c  [TIME]
    imgdeps                          1        image       10aeddf80ff2  [TIME]
    nopy                             1        conda       b44a481771b5  [TIME]
    trainenv                         1        pip         6a1d1b63211c  [TIME]
    ----- stderr -----
    ");
}

#[test]
fn curated_environments_are_read_only() {
    let context = TestContext::new();
    assert_snapshot!(context.run(&["env", "add-package", "Strata-Tutorial", "six", "--pip"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `Strata-Tutorial` is a curated environment and cannot be changed; copy it first (`strata env copy Strata-Tutorial NEW_NAME`)
    ");
    context.write("empty.txt", "");
    assert_snapshot!(context.run(&["env", "register", "--name", "azureml-mine", "--requirements", "empty.txt"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid environment name `azureml-mine`: names starting with `azureml-` are reserved for curated environments; to change a curated environment, copy it under a new name (`strata env copy Strata-Tutorial my-tutorial`)
    ");
    assert_snapshot!(context.run(&["env", "copy", "Strata-Tutorial", "mytutorial"]), @"
    exit_code: 0
    ----- stdout -----
    Registered mytutorial:1 (spec hash b4a90bd5a063088b2b3a36ccb04e7a52)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "add-package", "mytutorial", "six", "--pip"]), @"
    exit_code: 0
    ----- stdout -----
    Registered mytutorial:2 (spec hash 7e73026ff2cae615dbbf109824041e1a)
    ----- stderr -----
    ");
    let tutorial = context.json(&["env", "show", "Strata-Tutorial", "--json"]);
    assert_eq!(tutorial["curated"], true);
}

#[test]
fn private_wheels_are_content_addressed() {
    let context = TestContext::new();
    context.write("dist/my_pkg-0.1-py3-none-any.whl", "first bytes");
    let first = context.json(&[
        "env",
        "add-wheel",
        "dist/my_pkg-0.1-py3-none-any.whl",
        "--json",
    ]);
    let again = context.json(&[
        "env",
        "add-wheel",
        "dist/my_pkg-0.1-py3-none-any.whl",
        "--exist-ok",
        "--json",
    ]);
    assert_eq!(first["wheel"]["uri"], again["wheel"]["uri"]);
    assert_eq!(again["wheel"]["created"], false);
    context.write("dist/my_pkg-0.1-py3-none-any.whl", "other bytes");
    let other = context.json(&[
        "env",
        "add-wheel",
        "dist/my_pkg-0.1-py3-none-any.whl",
        "--exist-ok",
        "--json",
    ]);
    assert_ne!(first["wheel"]["uri"], other["wheel"]["uri"]);
    assert_snapshot!(other["wheel"]["uri"].as_str().unwrap(), @"strata://wheels/a3ead5eedad5df82318c51685dbc1c147a36d1ff8584fc82de6b08d0bf63a795/my_pkg-0.1-py3-none-any.whl");
    context.ok(&["env", "scaffold", "-n", "wheelenv", "-d", "w"]);
    context.ok(&["env", "register", "-d", "w"]);
    assert_snapshot!(context.run(&["env", "add-wheel", "dist/my_pkg-0.1-py3-none-any.whl", "--exist-ok", "--to", "wheelenv"]), @"
    exit_code: 0
    ----- stdout -----
    strata://wheels/a3ead5eedad5df82318c51685dbc1c147a36d1ff8584fc82de6b08d0bf63a795/my_pkg-0.1-py3-none-any.whl
    Registered wheelenv:2 (spec hash 4fd1063876cf5d5bae47efc63e05491b)
    ----- stderr -----
    These bytes were stored before as my_pkg-0.1-py3-none-any.whl
    ");
    let show = context.json(&["env", "show", "wheelenv", "--json"]);
    assert_eq!(
        show["definition"]["python"]["condaDependencies"]["dependencies"][2]["pip"][0],
        other["wheel"]["uri"]
    );
    assert_snapshot!(context.run(&["env", "add-wheel", "dist/notawheel.zip"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid wheel `dist/notawheel.zip`: a wheel file name ends in `.whl`
    ");
}

#[test]
fn bad_input_is_one_clear_error_and_registers_nothing() {
    let context = TestContext::new();
    context.write(
        "badjson/azureml_environment.json",
        "{\n    \"name\": \"bad\",\n    \"docker\": {\n        \"baseImage\": \"x\",\n    }\n}",
    );
    assert_snapshot!(context.run(&["env", "register", "-d", "badjson"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid `badjson/azureml_environment.json` at line 5, column 5: trailing comma
    ");
    context.write("badtype/azureml_environment.json", "{\n    \"name\": \"bad\",\n    \"python\": {\n        \"userManagedDependencies\": \"yes\"\n    }\n}");
    assert_snapshot!(context.run(&["env", "register", "-d", "badtype"]), @r#"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid `badtype/azureml_environment.json` at line 4, column 40, field `python.userManagedDependencies`: invalid type: string "yes", expected a boolean
    "#);
    context.write("badyaml/azureml_environment.json", "{\"name\": \"bad\"}");
    context.write(
        "badyaml/conda_dependencies.yml",
        "name: x\ndependencies:\n- python=3.11\n- pip:\n  - numpy=>1.2\n",
    );
    assert_snapshot!(context.run(&["env", "register", "-d", "badyaml"]), @r#"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid `badyaml/conda_dependencies.yml` at line 5, column 5, field `dependencies.pip`: `numpy=>1.2`: no such comparison operator "=>", must be one of ~= == != <= >= < > ===
    "#);
    context.write("requirements.txt", "six\nnumpy==1.26.4\npandas~=\n");
    assert_snapshot!(context.run(&["env", "register", "--name", "bad", "--requirements", "requirements.txt"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid `requirements.txt` at line 3, column 1, field `pandas~=`: Unexpected end of version specifier, expected version
    ");
    assert_snapshot!(context.run(&["env", "register", "--name", "bad", "--requirements", "missing.txt"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Failed to read `missing.txt`
      Caused by: No such file or directory (os error 2)
    ");
    assert_snapshot!(context.run(&["env", "register", "-d", "nodir"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Failed to read `nodir`
      Caused by: no such directory
    ");
    assert_snapshot!(context.run(&["env", "show", "nothere"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Environment `nothere` not found
    hint: `strata env list` shows the registered environments
    ");
    assert_snapshot!(context.run(&["env", "show", "Strata-Minimal:9"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Environment `Strata-Minimal` has no version 9 (the latest is 1)
    hint: `strata env list --all-versions` shows every version of `Strata-Minimal`
    ");
    assert_snapshot!(context.run(&["env", "show", "bad:name:x"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid environment name `bad:name`: `:` is not allowed (use letters, digits, `-`, `_` and `.`)
    ");
    assert_snapshot!(context.run(&["env", "register", "--requirements", "requirements.txt"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `--name` is required with this kind of definition
    hint: Name the environment: `--name myenv`
    ");
    assert_snapshot!(context.run(&["env", "add-package", "Strata-Minimal", "numpy=>1", "--conda"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `Strata-Minimal` is a curated environment and cannot be changed; copy it first (`strata env copy Strata-Minimal NEW_NAME`)
    ");
    let list = context.json(&["env", "list", "--all-versions", "--json"]);
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "only the curated environments: {list}"
    );
}

#[test]
fn credentials_in_urls_and_flag_misuse_are_refused() {
    let context = TestContext::new();
    context.write(
        "secret.txt",
        "--extra-index-url https://me:s3cret@pkgs.example.org/simple\nsix\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--name", "secret", "--requirements", "secret.txt"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: The definition contains a credential in `--extra-index-url https://***@pkgs.example.org/simple`; Strata never stores credentials
    hint: Put the secret in an environment variable and reference it, e.g. `https://${INDEX_TOKEN}@host/simple` or `https://user:${INDEX_PASSWORD}@host/simple`; it is read when the environment is built
    ");
    context.write(
        "ref.txt",
        "--extra-index-url https://me:${INDEX_PASSWORD}@pkgs.example.org/simple\nsix\n",
    );
    assert_eq!(
        context
            .run(&[
                "env",
                "register",
                "--name",
                "withref",
                "--requirements",
                "ref.txt"
            ])
            .code,
        0
    );
    assert_snapshot!(context.run(&["env", "add-package", "withref", "six"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Say which kind of package to add
    hint: Pass `--conda` for conda match specs or `--pip` for pip requirements
    ");
    assert_snapshot!(context.run(&["env", "add-package", "withref", "six", "--pip", "--channel", "x"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `--channel` applies to conda packages only
    hint: Use it with `--conda`; pip indexes are pip options such as `--extra-index-url URL`
    ");
    assert_snapshot!(context.run(&["env", "register", "--name", "p", "--requirements", "ref.txt", "--python", "banana"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid Python version `banana`
    hint: Give a version such as `3.11` or `3.11.7`
    ");
    let conda = test_data().join("azureml/v1/conda_spec/inputs/environment.yml");
    assert_snapshot!(context.run(&["env", "register", "--name", "p", "--conda-file", conda.to_str().unwrap(), "--python", "3.9"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `--python` applies to `--requirements` only
    hint: A conda file or directory names its Python as a `python=X.Y` dependency
    ");
    // A channel given with a package goes ahead of the default one.
    context.ok(&[
        "env",
        "register",
        "--name",
        "channels",
        "--requirements",
        "ref.txt",
    ]);
    context.ok(&[
        "env",
        "add-package",
        "channels",
        "pytorch",
        "--conda",
        "--channel",
        "pytorch",
    ]);
    let show = context.json(&["env", "show", "channels", "--json"]);
    assert_eq!(
        show["definition"]["python"]["condaDependencies"]["channels"],
        serde_json::json!(["pytorch"])
    );
}

#[test]
fn v2_download_registers_back_as_the_same_version() {
    let context = TestContext::new();
    context.write("requirements.txt", "six==1.16.0\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "viav2",
        "--requirements",
        "requirements.txt",
    ]);
    context.ok(&[
        "env", "download", "-n", "viav2", "-d", "v2", "--format", "v2",
    ]);
    assert_snapshot!(context.run(&["env", "register", "--file", "v2/environment.yml"]), @"
    exit_code: 0
    ----- stdout -----
    viav2:1 is unchanged (spec hash 608785dda75060794704f10811367abb); no new version
    ----- stderr -----
    ");
    let v2 = test_data().join("azureml/v2/env_build.yml");
    context.ok(&["env", "register", "--file", v2.to_str().unwrap()]);
    context.ok(&[
        "env",
        "download",
        "-n",
        "docker-context-example",
        "-d",
        "ctx",
        "--format",
        "v2",
    ]);
    assert_snapshot!(context.run(&["env", "register", "--file", "ctx/environment.yml"]), @"
    exit_code: 0
    ----- stdout -----
    docker-context-example:1 is unchanged (spec hash 5ead68b73cb9c09d95f38026b0b04b96); no new version
    ----- stderr -----
    ");
    context.write("Dockerfile", "FROM python:3.11-slim\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "df",
        "--dockerfile",
        "Dockerfile",
    ]);
    assert_snapshot!(context.run(&["env", "download", "-n", "df", "-d", "dfv2", "--format", "v2"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: df:1 is defined by Dockerfile text, which Azure ML v2 YAML cannot hold
    hint: Download it with `--format v1` (it writes a `BaseDockerfile`)
    ");
}

/// Issue #11, item 3: `conda_file: /dev/zero` grew the process to 23 GB.
#[test]
fn included_files_must_be_regular_and_small() {
    let context = TestContext::new();
    context.write("env.yml", "name: zero\nconda_file: /dev/zero\n");
    assert_snapshot!(context.run(&["env", "register", "--file", "env.yml"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Cannot read `/dev/zero`: it is a device, not a regular file; definitions include only regular files
    ");
    assert_snapshot!(context.run(&["env", "register", "--name", "z", "--conda-file", "/dev/zero"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Cannot read `/dev/zero`: it is a device, not a regular file; definitions include only regular files
    ");
}

/// Issue #11, item 2: a token alone in a URL (no password) was stored in clear.
#[test]
fn tokens_in_urls_are_refused_from_every_source() {
    let context = TestContext::new();
    context.write(
        "token.txt",
        "--extra-index-url https://ghp_TOKEN@host/simple\nsix\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--name", "t", "--requirements", "token.txt"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: The definition contains a credential in `--extra-index-url https://***@host/simple`; Strata never stores credentials
    hint: Put the secret in an environment variable and reference it, e.g. `https://${INDEX_TOKEN}@host/simple` or `https://user:${INDEX_PASSWORD}@host/simple`; it is read when the environment is built
    ");
    context.write("direct.txt", "pkg @ https://TOKEN@host/pkg-1.0.tar.gz\n");
    assert_snapshot!(context.run(&["env", "register", "--name", "t", "--requirements", "direct.txt"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: The definition contains a credential in `pkg @ https://***@host/pkg-1.0.tar.gz`; Strata never stores credentials
    hint: Put the secret in an environment variable and reference it, e.g. `https://${INDEX_TOKEN}@host/simple` or `https://user:${INDEX_PASSWORD}@host/simple`; it is read when the environment is built
    ");
    context.write(
        "conda.yml",
        "channels:\n- https://conda.anaconda.org/t/tk-42/private\ndependencies:\n- python=3.11\n- pip:\n  - --index-url https://TOKEN@host/simple\n  - six\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--name", "t", "--conda-file", "conda.yml"]), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: The definition contains a credential in `https://conda.anaconda.org/t/***/private`, `--index-url https://***@host/simple`; Strata never stores credentials
    hint: Put the secret in an environment variable and reference it, e.g. `https://${INDEX_TOKEN}@host/simple` or `https://user:${INDEX_PASSWORD}@host/simple`; it is read when the environment is built. A conda channel token (`/t/<token>/`) cannot be referenced: mirror the channel to a directory (`file://`) or a server that needs no token
    ");
    let list = context.json(&["env", "list", "--json"]);
    assert!(
        !list.to_string().contains("TOKEN"),
        "nothing was registered: {list}"
    );
}

/// Issue #11, item 5: a conda file's `pip:` section accepted `-e`, `-r /etc/passwd` and
/// unknown or malformed wheel references that a requirements file refuses.
#[test]
fn pip_sections_follow_the_rules_of_requirements_files() {
    let context = TestContext::new();
    let conda = |pip: &str| {
        context.write(
            "conda.yml",
            &format!("dependencies:\n- python=3.11\n- pip\n- pip:\n  - {pip}\n"),
        );
        context.run(&[
            "env",
            "register",
            "--name",
            "p",
            "--conda-file",
            "conda.yml",
        ])
    };
    assert_snapshot!(conda("-e ./src/pkg"), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid `conda.yml` at line 5, column 5, field `dependencies.pip`: `-e ./src/pkg`: editable installs (`-e`) are not supported in environment definitions; build a wheel (`pip wheel --no-deps ./src/pkg`) and add it with `strata env add-wheel FILE`
    ");
    assert_snapshot!(conda("-r /etc/passwd"), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    warning: `conda.yml` at line 5: a `pip:` list cannot include a requirements file (`-r /etc/passwd`); list the packages here, or register the file itself with `--requirements FILE`; it cannot be registered
    error: Invalid `p (pip dependencies)`, field `dependencies.pip`: a `pip:` list cannot include a requirements file (`-r /etc/passwd`); list the packages here, or register the file itself with `--requirements FILE`
    ");
    assert_snapshot!(conda("strata://wheels/0000000000000000000000000000000000000000000000000000000000000000/../../x"), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid `conda.yml` at line 5, column 5, field `dependencies.pip`: `strata://wheels/0000000000000000000000000000000000000000000000000000000000000000/../../x`: expected `strata://wheels/<sha256>/<file>.whl`, the reference `strata env add-wheel` prints: `../../x` is not a wheel file name
    ");
    assert_snapshot!(conda("strata://wheels/0000000000000000000000000000000000000000000000000000000000000000/x-1.0-py3-none-any.whl"), @"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Unknown reference `strata://wheels/0000000000000000000000000000000000000000000000000000000000000000/x-1.0-py3-none-any.whl`: no wheel with this digest is stored in the workspace (add it with `strata env add-wheel FILE`, which prints the reference to use)
    ");
    context.write("dist/x-1.0-py3-none-any.whl", "bytes");
    let wheel = context.json(&["env", "add-wheel", "dist/x-1.0-py3-none-any.whl", "--json"]);
    let uri = wheel["wheel"]["uri"].as_str().unwrap().to_string();
    let output = conda(&uri);
    assert_eq!(output.code, 0, "{output}");
    let output = conda("./dist/x-1.0-py3-none-any.whl");
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stderr.contains("is a local path"), "{output}");
}

/// Issue #11, item 6: control characters from a crafted file reached the terminal raw.
#[test]
fn control_characters_in_errors_are_escaped() {
    let context = TestContext::new();
    context.write("evil.txt", "numpy\u{1b}[2J\u{1b}]0;owned\u{7}=>1\n");
    let output = context.run(&[
        "env",
        "register",
        "--name",
        "evil",
        "--requirements",
        "evil.txt",
    ]);
    assert_eq!(output.code, 1, "{output}");
    assert!(!output.stderr.contains('\u{1b}'), "{output}");
    assert_snapshot!(output.stderr, @r"error: Invalid `evil.txt` at line 1, column 1, field `numpy\u{1b}[2J\u{1b}]0;owned\u{7}=>1`: Expected one of `@`, `(`, `<`, `=`, `>`, `~`, `!`, `;`, found `\u{1b}`");
}

/// Issue #11, item 15: a conda file's own `name:` names the environment when `--name` does not,
/// and a Python added to a conda file is said, whichever way the file comes in.
#[test]
fn conda_file_names_the_environment_and_an_added_python_is_said() {
    let context = TestContext::new();
    context.write(
        "environment.yml",
        "name: from-conda\ndependencies:\n- python=3.11\n- numpy\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--conda-file", "environment.yml"]), @r"
    exit_code: 0
    ----- stdout -----
    Registered from-conda:1 (spec hash e4368884c6010f3d29be331ee111ba6d)
    ----- stderr -----
    ");
    context.write("nopython.yml", "name: nopy\ndependencies:\n- numpy\n");
    assert_snapshot!(context.run(&["env", "register", "--conda-file", "nopython.yml", "--image", "ubuntu:22.04", "--name", "img"]), @r"
    exit_code: 0
    ----- stdout -----
    Registered img:1 (spec hash 9174cec8a42ead5a67d6228b6ac11d7d)
    ----- stderr -----
    warning: No Python version provided, defaulting to `python=3.11`: it was added to the conda dependencies, as Azure ML adds its default (add `python=X.Y` to choose)
    ");
    context.write(
        "env.yml",
        "name: v2nopy\nimage: ubuntu:22.04\nconda_file: nopython.yml\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--file", "env.yml"]), @r"
    exit_code: 0
    ----- stdout -----
    Registered v2nopy:1 (spec hash 9174cec8a42ead5a67d6228b6ac11d7d)
    ----- stderr -----
    warning: No Python version provided, defaulting to `python=3.11`: it was added to the conda dependencies, as Azure ML adds its default (add `python=X.Y` to choose)
    ");
    context.write("spaced.yml", "name: my env\ndependencies:\n- python=3.11\n");
    assert_snapshot!(context.run(&["env", "register", "--conda-file", "spaced.yml"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: The conda file `spaced.yml` names the environment `my env`, which cannot be an environment name
    hint: Invalid environment name `my env`: ` ` is not allowed (use letters, digits, `-`, `_` and `.`); name it with `--name NAME`
    ");
    // `--name` still wins.
    let registered = context.ok(&[
        "env",
        "register",
        "--conda-file",
        "environment.yml",
        "--name",
        "chosen",
    ]);
    assert!(
        registered.starts_with("Registered chosen:1"),
        "{registered}"
    );
}

/// Issue #11, item 14: a real v2 file with a string version (`22.02-py3`) registers as that
/// version, which `NAME:VERSION` then names; automatic versions stay integers.
#[test]
fn v2_string_versions_register_and_resolve() {
    let context = TestContext::new();
    context.write(
        "env.yml",
        "name: nvidia-pytorch\nversion: 22.02-py3\nimage: nvcr.io/nvidia/pytorch:22.02-py3\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--file", "env.yml"]), @r"
    exit_code: 0
    ----- stdout -----
    Registered nvidia-pytorch:22.02-py3 (spec hash 3ef8e559439a992e25e4fd47d37d9136)
    ----- stderr -----
    ");
    let shown = context.json(&["env", "show", "nvidia-pytorch:22.02-py3", "--json"]);
    assert_eq!(shown["version"], "22.02-py3");
    context.write(
        "env2.yml",
        "name: nvidia-pytorch\nimage: nvcr.io/nvidia/pytorch:23.01-py3\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--file", "env2.yml"]), @r"
    exit_code: 0
    ----- stdout -----
    Registered nvidia-pytorch:1 (spec hash 01d1e4fe426ecc2ea2dbbf8ebd5fc5cf)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "list", "--all-versions"]), @r"
    exit_code: 0
    ----- stdout -----
    NAME             VERSION    KIND   SPEC HASH     CREATED               DESCRIPTION
    Strata-Minimal   1          pip    863377bda845  [TIME]  curated
    Strata-Tutorial  1          pip    b4a90bd5a063  [TIME]  curated
    nvidia-pytorch   22.02-py3  image  3ef8e559439a  [TIME]
    nvidia-pytorch   1          image  01d1e4fe426e  [TIME]
    ----- stderr -----
    ");
    let listed = context.json(&["env", "list", "--json"]);
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "nvidia-pytorch")
        .unwrap()
        .clone();
    assert_eq!(entry["version"], 1);
    let downloaded = context.ok(&[
        "env",
        "download",
        "-n",
        "nvidia-pytorch",
        "-v",
        "22.02-py3",
        "-d",
        "out",
        "--format",
        "v2",
    ]);
    assert!(downloaded.contains("out"), "{downloaded}");
    assert!(
        context
            .read("out/environment.yml")
            .contains("version: 22.02-py3"),
        "{}",
        context.read("out/environment.yml")
    );
    assert_snapshot!(context.run(&["env", "show", "nvidia-pytorch:22.02 py3"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid environment reference `nvidia-pytorch:22.02 py3`: the version `22.02 py3` is not valid: ` ` is not allowed (use letters, digits, `-`, `_` and `.`)
    ");
}

/// Issue #11, item 16: a build context stored in the workspace is downloaded as a directory
/// beside the definition (v2 `build.path`, v1 `docker.buildContext.location`), not as a
/// `strata://` reference Azure ML cannot read, and registers back as the same version.
#[test]
fn downloads_write_build_contexts_back_as_directories() {
    let context = TestContext::new();
    let v2 = test_data().join("azureml/v2");
    context.ok(&[
        "env",
        "register",
        "--file",
        v2.join("env_build.yml").to_str().unwrap(),
    ]);
    let original = |file: &str| fs_err::read_to_string(v2.join("build_ctx").join(file)).unwrap();

    context.ok(&[
        "env",
        "download",
        "-n",
        "docker-context-example",
        "-d",
        "out2",
        "--format",
        "v2",
    ]);
    assert_snapshot!(context.read("out2/environment.yml"), @r"
    build:
      dockerfile_path: Dockerfile
      path: context
    name: docker-context-example
    tags: {}
    version: '1'
    ");
    for file in ["Dockerfile", "requirements.txt"] {
        assert_eq!(
            context.read(&format!("out2/context/{file}")),
            original(file)
        );
    }
    // A `context` of the user's is not replaced without `--overwrite`.
    context.write("mine/context/notes.txt", "mine\n");
    let refused = context.run(&[
        "env",
        "download",
        "-n",
        "docker-context-example",
        "-d",
        "mine",
        "--format",
        "v2",
    ]);
    assert_eq!(refused.code, 1, "{refused}");
    assert_eq!(context.read("mine/context/notes.txt"), "mine\n");
    assert_snapshot!(context.run(&["env", "register", "--file", "out2/environment.yml"]), @r"
    exit_code: 0
    ----- stdout -----
    docker-context-example:1 is unchanged (spec hash 5ead68b73cb9c09d95f38026b0b04b96); no new version
    ----- stderr -----
    ");

    context.ok(&[
        "env",
        "download",
        "-n",
        "docker-context-example",
        "-d",
        "out1",
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&context.read("out1/azureml_environment.json")).unwrap();
    assert_snapshot!(json["docker"]["buildContext"].to_string(), @r#"
    {"locationType":"local","location":"context","dockerfilePath":"Dockerfile"}
    "#);
    assert_eq!(
        context.read("out1/context/Dockerfile"),
        original("Dockerfile")
    );
    assert_snapshot!(context.run(&["env", "register", "-d", "out1"]), @r"
    exit_code: 0
    ----- stdout -----
    docker-context-example:1 is unchanged (spec hash 5ead68b73cb9c09d95f38026b0b04b96); no new version
    ----- stderr -----
    ");

    // Downloading again over a `context` that is a symlink replaces the link, and writes
    // nothing where it points.
    context.write("elsewhere/keep.txt", "mine\n");
    fs_err::remove_dir_all(context.path().join("out1/context")).unwrap();
    std::os::unix::fs::symlink(
        context.path().join("elsewhere"),
        context.path().join("out1/context"),
    )
    .unwrap();
    context.ok(&[
        "env",
        "download",
        "-n",
        "docker-context-example",
        "-d",
        "out1",
        "--overwrite",
    ]);
    assert!(!context.path().join("out1/context").is_symlink());
    assert_eq!(
        context.read("out1/context/Dockerfile"),
        original("Dockerfile")
    );
    let elsewhere: Vec<_> = fs_err::read_dir(context.path().join("elsewhere"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(elsewhere, ["keep.txt"]);
}

/// Issue #11, items 10 and 13: files with a byte-order mark register like any other, and a
/// deeply nested YAML file is refused at once, naming the file and line.
#[test]
fn byte_order_marks_register_and_deep_nesting_is_refused_quickly() {
    let context = TestContext::new();
    context.write(
        "environment.yml",
        "\u{feff}name: bom\ndependencies:\n- python=3.11\n",
    );
    context.write(
        "v1/azureml_environment.json",
        "\u{feff}{\"name\": \"bomdir\"}\n",
    );
    assert_snapshot!(context.run(&["env", "register", "--conda-file", "environment.yml"]), @r"
    exit_code: 0
    ----- stdout -----
    Registered bom:1 (spec hash bbaa7510d32bb7edcbde39936a834db3)
    ----- stderr -----
    ");
    assert_snapshot!(context.run(&["env", "register", "-d", "v1"]), @r"
    exit_code: 0
    ----- stdout -----
    Registered bomdir:1 (spec hash b4432564cacf48d02f84288abb9c28b6)
    ----- stderr -----
    ");
    context.write(
        "deep.yml",
        &format!("name: deep\ndependencies: {}\n", "[".repeat(200_000)),
    );
    let started = std::time::Instant::now();
    assert_snapshot!(context.run(&["env", "register", "--conda-file", "deep.yml"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: Invalid `deep.yml` at line 2, column 78: collections are nested more than 64 levels deep; a definition needs a few
    ");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
