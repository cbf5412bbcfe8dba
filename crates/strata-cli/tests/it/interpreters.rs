//! Finding Python interpreters: pyenv's versions behind its shims, and what a failed search
//! names.

use std::os::unix::fs::PermissionsExt as _;

use crate::common::TestContext;

/// A stand-in interpreter that answers the version probe as `version` would.
fn fake_python(context: &TestContext, root: &str, version: &str) -> std::path::PathBuf {
    let path = context.write(
        &format!("{root}/versions/{version}/bin/python3"),
        &format!("#!/bin/sh\nprintf '{version}\\n%s\\n' \"$0\"\n"),
    );
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn pythons_under_pyenv_versions_are_found() {
    let context = TestContext::new();
    // A real interpreter, reachable only as pyenv keeps it: PATH has no Python at all.
    let probe = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, platform; print(platform.python_version()); print(sys.executable)",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(probe.stdout).unwrap();
    let (version, executable) = text.trim().split_once('\n').unwrap();
    let bin = context.path().join(format!("pyenv/versions/{version}/bin"));
    fs_err::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(executable, bin.join("python3")).unwrap();
    context.write("empty.txt", "\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "py",
        "--requirements",
        "empty.txt",
        "--python",
        version,
    ]);
    let output = context.output(
        context
            .command()
            .env("PATH", context.path().join("no-bin"))
            .env("PYENV_ROOT", context.path().join("pyenv"))
            .env("STRATA_PYTHON_DOWNLOADS", "never")
            .args(["env", "lock", "py"]),
    );
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output
            .stderr
            .contains(&format!("Finding a Python {version} interpreter")),
        "{output}"
    );
    let lock = context.ok(&["env", "lock", "py", "--json"]);
    assert!(lock.contains(version), "{lock}");
}

#[test]
fn a_failed_search_names_every_place_and_the_download() {
    let context = TestContext::new();
    fake_python(&context, "pyenv", "3.10.98");
    context.write("empty.txt", "\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "py",
        "--requirements",
        "empty.txt",
        "--python",
        "3.10.97",
    ]);
    let output = context.output(
        context
            .command()
            .env("PYENV_ROOT", context.path().join("pyenv"))
            .env("STRATA_PYTHON_DOWNLOADS", "never")
            .args(["env", "lock", "py"]),
    );
    assert_eq!(output.code, 1, "{output}");
    for expected in [
        "No Python interpreter matches `3.10.97`",
        "3.10.98 ([TEMP]/pyenv/versions/3.10.98/bin/python3)",
        "searched: PATH, [TEMP]/pyenv/versions, ",
        "uv's discovery; downloads are off (`STRATA_PYTHON_DOWNLOADS=never`)",
        "hint: Install Python 3.10.97",
    ] {
        assert!(output.stderr.contains(expected), "{expected}: {output}");
    }
    // With downloads on, uv is asked to install it; where the network does not allow, why.
    let output = context.output(
        context
            .command()
            .env("PYENV_ROOT", context.path().join("pyenv"))
            .env("UV_HTTP_RETRIES", "0")
            .env("UV_PYTHON_INSTALL_MIRROR", "http://127.0.0.1:9/python")
            .args(["env", "lock", "py"]),
    );
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output
            .stderr
            .contains("uv could not download Python 3.10.97"),
        "{output}"
    );
}

#[test]
fn verbose_shows_the_commands_strata_runs() {
    let context = TestContext::new();
    context.write("requirements.txt", "six\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "v",
        "--requirements",
        "requirements.txt",
    ]);
    let quiet = context.run(&["env", "lock", "v"]);
    assert_eq!(quiet.code, 0, "{quiet}");
    assert!(!quiet.stderr.contains("DEBUG"), "{quiet}");
    let output = context.run(&["-v", "env", "lock", "v", "--refresh"]);
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output.stderr.contains("DEBUG strata_build::uv: running ")
            && output.stderr.contains(" pip compile "),
        "{output}"
    );
    let output = context.output(
        context
            .command()
            .env("RUST_LOG", "strata_build=trace")
            .args(["env", "lock", "v", "--refresh"]),
    );
    assert!(output.stderr.contains("TRACE strata_build"), "{output}");
}
