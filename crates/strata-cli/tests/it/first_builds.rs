//! What a new user's first builds meet: Pythons that pyenv keeps behind its shims, a failed
//! search, `-v`, a package with no wheel for the chosen Python, and pip, setuptools and wheel
//! in every environment of a machine Python.

use std::os::unix::fs::PermissionsExt as _;

use crate::build::build_json;
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

/// A source distribution with static metadata whose build prints `lines` lines of "compiler"
/// output and fails, as a C extension without a wheel does on a machine without headers.
fn failing_sdist(dir: &std::path::Path, lines: usize) {
    let root = "strata_sdist_only-1.0";
    let pkg_info = "Metadata-Version: 2.2\nName: strata-sdist-only\nVersion: 1.0\n";
    let pyproject = "[project]\nname = \"strata-sdist-only\"\nversion = \"1.0\"\n\n[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n";
    let backend = format!(
        "import sys\n\ndef build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n    for i in range({lines}):\n        print(f'gcc -c src/module{{i}}.c -o build/module{{i}}.o', file=sys.stderr)\n    print('src/module.c:1:10: fatal error: Python.h: No such file or directory', file=sys.stderr)\n    raise SystemExit(1)\n"
    );
    let file = fs_err::File::create(dir.join(format!("{root}.tar.gz"))).unwrap();
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    for (name, content) in [
        ("PKG-INFO", pkg_info.to_string()),
        ("pyproject.toml", pyproject.to_string()),
        ("backend.py", backend),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, format!("{root}/{name}"), content.as_bytes())
            .unwrap();
    }
    archive.into_inner().unwrap().finish().unwrap();
}

#[test]
fn a_package_without_a_wheel_is_named_before_compiling_and_its_failure_is_short() {
    let context = TestContext::new();
    let dists = context.path().join("dists");
    fs_err::create_dir_all(&dists).unwrap();
    failing_sdist(&dists, 1200);
    context.write(
        "requirements.txt",
        &format!("--find-links {}\nstrata-sdist-only==1.0\n", dists.display()),
    );
    context.ok(&[
        "env",
        "register",
        "--name",
        "sdist",
        "--requirements",
        "requirements.txt",
    ]);
    let output = context.run(&["env", "build", "sdist"]);
    assert_eq!(output.code, 1, "{output}");
    let warning = output
        .stderr
        .find("warning: No wheel of `strata-sdist-only` 1.0 exists for Python 3.")
        .unwrap_or_else(|| panic!("{output}"));
    let failure = output
        .stderr
        .find("error: Failed to build `sdist:1`")
        .unwrap();
    assert!(
        warning < failure,
        "the warning comes before the build: {output}"
    );
    assert!(output.stderr.contains("fatal error: Python.h"), "{output}");
    assert!(
        output.stderr.lines().count() < 80,
        "not the whole compiler output: {output}"
    );
    let log = context.ok(&["env", "build-log", "sdist"]);
    assert!(log.contains("module1199.c"), "the log keeps everything");
}

/// Issue #11, item 20: an environment on a Python from the machine has pip, setuptools and
/// wheel, as conda's Python has them in Azure ML (`import pkg_resources` works), unless the
/// definition pins them itself.
#[test]
fn pip_environments_have_setuptools_and_wheel() {
    let context = TestContext::new();
    context.write("requirements.txt", "six==1.16.0\n");
    context.write("pinned.txt", "six==1.16.0\nsetuptools==69.5.1\n");
    for (name, file) in [("seeded", "requirements.txt"), ("pinned", "pinned.txt")] {
        context.ok(&["env", "register", "--name", name, "--requirements", file]);
        build_json(&context, name);
    }
    let versions = |name: &str| -> Vec<String> {
        let lock = context.json(&["env", "lock", name, "--json"]);
        let mut found: Vec<String> = lock["lock"]["pypi"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| ["pip", "setuptools", "wheel"].contains(&p["name"].as_str().unwrap()))
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        found.sort();
        found
    };
    assert_eq!(versions("seeded"), ["pip", "setuptools", "wheel"]);
    let output = context.run(&[
        "env",
        "exec",
        "seeded",
        "--",
        "python",
        "-c",
        "import pkg_resources, setuptools, wheel, pip; print('ok')",
    ]);
    assert_eq!(output.stdout.trim(), "ok", "{output}");
    let pinned = context.json(&["env", "lock", "pinned", "--json"]);
    let setuptools: Vec<&str> = pinned["lock"]["pypi"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "setuptools")
        .map(|p| p["version"].as_str().unwrap())
        .collect();
    assert_eq!(setuptools, ["69.5.1"]);
    assert_eq!(versions("pinned"), ["pip", "setuptools", "wheel"]);
}
