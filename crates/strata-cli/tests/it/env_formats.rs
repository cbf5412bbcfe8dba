//! Real Azure ML and conda files that did not register or round-trip: a conda file's own
//! name, v2 string versions, build contexts on download, byte-order marks, deep nesting.

use insta::assert_snapshot;

use crate::common::{TestContext, test_data};

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
