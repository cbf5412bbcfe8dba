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
