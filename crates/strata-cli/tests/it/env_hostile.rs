//! Bad and hostile input to `strata env register`: one clear error, nothing registered,
//! nothing read that is not a small regular file, no credential stored, nothing raw on the
//! terminal.

use insta::assert_snapshot;

use crate::common::{TestContext, test_data};

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
