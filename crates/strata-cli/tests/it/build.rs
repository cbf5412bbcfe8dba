//! Locking and building environments for real: PyPI through uv, conda from a local channel.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use insta::assert_snapshot;
use serde_json::Value;

use crate::common::{TestContext, test_data};

pub(crate) fn build_json(context: &TestContext, reference: &str) -> Value {
    context.json(&["env", "build", reference, "--json"])
}

#[test]
fn builds_from_pypi_reuses_and_runs() {
    let context = TestContext::new();
    context.write("requirements.txt", "six==1.16.0\npackaging\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "pypi",
        "--requirements",
        "requirements.txt",
    ]);
    let first = build_json(&context, "pypi");
    let prefix = PathBuf::from(first["prefix"].as_str().unwrap());
    assert!(prefix.join("strata-prefix.json").is_file());
    let again = build_json(&context, "pypi");
    assert_eq!(again["prefix"], first["prefix"]);
    assert_eq!(again["reused"], true);
    let output = context.run(&[
        "env",
        "exec",
        "pypi",
        "--",
        "python",
        "-c",
        "import six, packaging, sys; print(six.__version__, sys.prefix)",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stdout.starts_with("1.16.0 "), "{output}");
    // The exit code of the command is the exit code of `exec`.
    assert_eq!(
        context
            .run(&[
                "env",
                "exec",
                "pypi",
                "--",
                "python",
                "-c",
                "raise SystemExit(7)"
            ])
            .code,
        7
    );
    // The lock is frozen: locking again reports the same lock.
    let lock = context.json(&["env", "lock", "pypi", "--json"]);
    assert_eq!(lock["lockHash"], first["lockHash"]);
    let pypi: Vec<&str> = lock["lock"]["pypi"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        pypi.contains(&"six") && pypi.contains(&"packaging") && pypi.contains(&"pip"),
        "{pypi:?}"
    );
    assert_eq!(lock["lock"]["version"], 1);
    assert_eq!(lock["lock"]["python"]["source"], "system");
    assert!(
        lock["lock"]["pypi"][0]["hashes"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    );
    let log = context.run(&["env", "build-log", "pypi"]);
    assert!(log.stdout.contains("uv pip compile"), "{log}");
}

#[test]
fn versions_with_one_lock_share_one_prefix() {
    let context = TestContext::new();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = context.output(context.command_with_cache(cache.path()).args(args));
        assert_eq!(output.code, 0, "{output}");
        output.stdout
    };
    context.write("a.txt", "six==1.16.0\n");
    context.write("b.txt", "six>=1.16,<1.17\n");
    run(&["env", "register", "--name", "a", "--requirements", "a.txt"]);
    run(&["env", "register", "--name", "b", "--requirements", "b.txt"]);
    let a: Value = serde_json::from_str(&run(&["env", "build", "a", "--json"])).unwrap();
    let b: Value = serde_json::from_str(&run(&["env", "build", "b", "--json"])).unwrap();
    assert_eq!(a["lockHash"], b["lockHash"]);
    assert_eq!(a["prefix"], b["prefix"]);
    assert_eq!(b["reused"], true);
    let prefixes = fs_err::read_dir(cache.path().join("envs-v1"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(prefixes, 1);
    let list: Value = serde_json::from_str(&run(&["cache", "list", "--json"])).unwrap();
    assert_eq!(
        list["prefixes"][0]["usedBy"],
        serde_json::json!(["a:1", "b:1"])
    );
}

#[test]
fn four_concurrent_builds_make_one_prefix() {
    let context = TestContext::new();
    let cache = tempfile::tempdir().unwrap();
    context.write("requirements.txt", "attrs\nsix\n");
    let register = context.output(context.command_with_cache(cache.path()).args([
        "env",
        "register",
        "--name",
        "race",
        "--requirements",
        "requirements.txt",
    ]));
    assert_eq!(register.code, 0, "{register}");
    let lock = context.output(
        context
            .command_with_cache(cache.path())
            .args(["env", "lock", "race"]),
    );
    assert_eq!(lock.code, 0, "{lock}");
    let children: Vec<_> = (0..4)
        .map(|_| {
            context
                .command_with_cache(cache.path())
                .args(["env", "build", "race", "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Value> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .collect();
    assert!(outputs.iter().all(|o| o["prefix"] == outputs[0]["prefix"]));
    assert_eq!(
        outputs.iter().filter(|o| o["reused"] == false).count(),
        1,
        "exactly one process built: {outputs:?}"
    );
}

#[test]
fn a_killed_build_leaves_nothing_that_looks_ready() {
    let context = TestContext::new();
    let cache = tempfile::tempdir().unwrap();
    // An sdist whose build sleeps: the build is surely still running when it is killed.
    let sdist = slow_sdist(context.path());
    context.write(
        "requirements.txt",
        &format!("slowpkg @ file://{}\n", sdist.display()),
    );
    let strata = |args: &[&str]| {
        let output = context.output(context.command_with_cache(cache.path()).args(args));
        assert_eq!(output.code, 0, "{output}");
        output.stdout
    };
    strata(&[
        "env",
        "register",
        "--name",
        "slow",
        "--requirements",
        "requirements.txt",
    ]);
    strata(&["env", "lock", "slow"]);
    let mut child = {
        use std::os::unix::process::CommandExt as _;
        context
            .command_with_cache(cache.path())
            .args(["env", "build", "slow"])
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let envs = cache.path().join("envs-v1");
    let started = Instant::now();
    while !staging_exists(&envs) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the build never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SIGKILL the build and everything it started, as a crash or OOM kill would.
    let group = format!("-{}", child.id());
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .unwrap()
            .success()
    );
    let _ = child.wait();
    let ready: Vec<_> = fs_err::read_dir(&envs)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(ready.is_empty(), "a killed build published {ready:?}");
    let path = strata(&["env", "build", "slow"]);
    assert!(Path::new(path.trim()).join("strata-prefix.json").is_file());
    assert!(
        !staging_exists(&envs),
        "the next build removes what the killed one left"
    );
    let output = context.output(context.command_with_cache(cache.path()).args([
        "env",
        "exec",
        "slow",
        "--",
        "python",
        "-c",
        "import slowpkg",
    ]));
    assert_eq!(output.code, 0, "{output}");
}

fn staging_exists(envs: &Path) -> bool {
    fs_err::read_dir(envs).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
    })
}

/// A source distribution with static metadata (so locking does not build it) whose build
/// sleeps for a few seconds.
fn slow_sdist(dir: &Path) -> PathBuf {
    let script = r#"
import io, sys, tarfile
out = sys.argv[1]
files = {
    "slowpkg-0.1/PKG-INFO": "Metadata-Version: 2.2\nName: slowpkg\nVersion: 0.1\n",
    "slowpkg-0.1/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
    "slowpkg-0.1/slowpkg.py": "VALUE = 1\n",
    "slowpkg-0.1/backend.py": r'''
import os, time, zipfile, hashlib, base64
def _wheel(directory):
    time.sleep(4)
    name = "slowpkg-0.1-py3-none-any.whl"
    files = {"slowpkg.py": b"VALUE = 1\n",
             "slowpkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: slowpkg\nVersion: 0.1\n",
             "slowpkg-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = ""
    with zipfile.ZipFile(os.path.join(directory, name), "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record += f"{path},sha256={digest},{len(data)}\n"
        record += "slowpkg-0.1.dist-info/RECORD,,\n"
        z.writestr("slowpkg-0.1.dist-info/RECORD", record)
    return name
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory)
def get_requires_for_build_wheel(config_settings=None):
    return []
''',
}
with tarfile.open(out, "w:gz") as tar:
    for path, text in files.items():
        data = text.encode()
        info = tarfile.TarInfo(path)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
"#;
    let out = dir.join("slowpkg-0.1.tar.gz");
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

#[test]
fn conda_packages_from_a_local_channel() {
    let context = TestContext::new();
    let channel = context.path().join("channel");
    strata_build::test_channel::write_channel(
        &channel,
        &strata_build::test_channel::sample_packages(),
    )
    .unwrap();
    context.write(
        "environment.yml",
        &format!("name: condaenv\nchannels:\n- file://{}\ndependencies:\n- python=3.11\n- mat-app\n- pip\n- pip:\n  - six==1.16.0\n", channel.display()),
    );
    context.ok(&[
        "env",
        "register",
        "--name",
        "conda",
        "--conda-file",
        "environment.yml",
    ]);
    let built = build_json(&context, "conda");
    let prefix = PathBuf::from(built["prefix"].as_str().unwrap());
    let lock = context.json(&["env", "lock", "conda", "--json"]);
    let conda: Vec<String> = lock["lock"]["conda"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(conda, ["mat-app 1.2.3", "mat-hello 0.1.0", "mat-lib 2.0.0"]);
    assert!(lock["lock"]["conda"][0]["sha256"].is_string());
    // This channel has no python: the interpreter comes from the machine.
    assert_eq!(lock["lock"]["python"]["source"], "system");
    assert!(prefix.join("conda-meta").is_dir());
    // Prefix placeholders name the final prefix, not the temporary build directory.
    let patched = walk(&prefix)
        .into_iter()
        .find(|p| fs_err::read_to_string(p).is_ok_and(|t| t.contains(prefix.to_str().unwrap())))
        .map(|p| fs_err::read_to_string(p).unwrap());
    assert!(
        patched.is_some(),
        "the placeholder file was not patched with the prefix"
    );
    let output = context.run(&[
        "env",
        "exec",
        "conda",
        "--",
        "python",
        "-c",
        "import six; print(six.__version__)",
    ]);
    assert_eq!(output.stdout.trim(), "1.16.0", "{output}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            if !path.ends_with("lib") {
                files.extend(walk(&path));
            }
        } else if path.is_file() {
            files.push(path);
        }
    }
    files
}

#[test]
fn private_wheels_install_from_the_workspace() {
    let context = TestContext::new();
    let wheel = context.path().join("dist/mypkg-0.1-py3-none-any.whl");
    fs_err::create_dir_all(wheel.parent().unwrap()).unwrap();
    let script = r#"
import sys, zipfile, hashlib, base64
files = {"mypkg/__init__.py": b"ANSWER = 42\n", "mypkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: mypkg\nVersion: 0.1\n", "mypkg-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
record = ""
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for path, data in files.items():
        z.writestr(path, data)
        record += f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
    record += "mypkg-0.1.dist-info/RECORD,,\n"
    z.writestr("mypkg-0.1.dist-info/RECORD", record)
"#;
    assert!(
        std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&wheel)
            .status()
            .unwrap()
            .success()
    );
    context.ok(&["env", "scaffold", "-n", "withwheel", "-d", "w"]);
    context.ok(&["env", "register", "-d", "w"]);
    context.ok(&[
        "env",
        "add-wheel",
        wheel.to_str().unwrap(),
        "--to",
        "withwheel",
    ]);
    let output = context.run(&[
        "env",
        "exec",
        "withwheel",
        "--",
        "python",
        "-c",
        "import mypkg; print(mypkg.ANSWER)",
    ]);
    assert_eq!(output.stdout.trim(), "42", "{output}");
    let lock = context.json(&["env", "lock", "withwheel", "--json"]);
    let wheel_entry = lock["lock"]["pypi"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mypkg")
        .unwrap()
        .clone();
    assert_eq!(wheel_entry["source"]["kind"], "wheel");
    assert!(
        wheel_entry["source"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("strata://wheels/")
    );
}

#[test]
fn refresh_makes_a_new_version_only_when_the_resolution_moved() {
    let context = TestContext::new();
    let wheels = context.path().join("wheels");
    fs_err::create_dir_all(&wheels).unwrap();
    download(&wheels, "six==1.16.0");
    // Every lock has pip, setuptools and wheel (which needs packaging), and this index is
    // the only one.
    for seed in ["pip", "setuptools<82", "wheel", "packaging"] {
        download(&wheels, seed);
    }
    context.write(
        "requirements.txt",
        &format!("--no-index\n--find-links {}\nsix\n", wheels.display()),
    );
    context.ok(&[
        "env",
        "register",
        "--name",
        "drift",
        "--requirements",
        "requirements.txt",
    ]);
    context.ok(&["env", "lock", "drift"]);
    assert_snapshot!(context.run(&["env", "update", "drift", "--refresh"]).stdout.lines().next().unwrap_or_default().split(" (lock hash").next().unwrap(), @"drift:1 resolves the same; its lock is unchanged");
    download(&wheels, "six==1.17.0");
    let output = context.run(&["env", "update", "drift", "--refresh"]);
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stdout.contains("registered drift:2"), "{output}");
    assert!(
        output.stdout.contains("pypi:six: 1.16.0 -> 1.17.0"),
        "{output}"
    );
    // Version 1 keeps its lock; version 2 has the new one.
    let one = context.json(&["env", "lock", "drift:1", "--json"]);
    let two = context.json(&["env", "lock", "drift:2", "--json"]);
    assert_ne!(one["lockHash"], two["lockHash"]);
    // The definition did not change, so registering it again gives the latest version.
    assert!(
        context
            .ok(&[
                "env",
                "register",
                "--name",
                "drift",
                "--requirements",
                "requirements.txt"
            ])
            .contains("drift:2 is unchanged")
    );
}

fn download(dir: &Path, requirement: &str) {
    let status = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(dir)
        .arg(requirement)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn build_failures_name_the_cause_and_keep_the_log() {
    let context = TestContext::new();
    context.write("missing.txt", "strata-surely-not-a-package-xyz==1.0\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "missing",
        "--requirements",
        "missing.txt",
    ]);
    let output = context.run(&["env", "build", "missing"]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output.stderr.contains("error: Failed to lock `missing:1`"),
        "{output}"
    );
    assert!(
        output.stderr.contains("strata-surely-not-a-package-xyz"),
        "{output}"
    );
    assert!(
        output
            .stderr
            .contains("hint: The full log: `strata env build-log missing:1`"),
        "{output}"
    );
    let log = context.run(&["env", "build-log", "missing"]);
    assert!(log.stderr.contains("failed"), "{log}");
    assert!(log.stdout.contains("uv pip compile"), "{log}");

    context.write("old.txt", "six\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "oldpy",
        "--requirements",
        "old.txt",
        "--python",
        "3.4",
    ]);
    let output = context.run(&["env", "build", "oldpy"]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output
            .stderr
            .contains("No Python interpreter matches `3.4`; interpreters found: "),
        "{output}"
    );

    context.write(
        "nochannel.yml",
        "dependencies:\n- python=3.11\n- numpy=1.26\n",
    );
    context.ok(&[
        "env",
        "register",
        "--name",
        "nochannel",
        "--conda-file",
        "nochannel.yml",
    ]);
    let output = context.run(&["env", "build", "nochannel"]);
    assert!(
        output
            .stderr
            .contains("Conda packages `numpy=1.26` need a conda channel"),
        "{output}"
    );

    context.write(
        "unreachable.yml",
        "channels:\n- http://127.0.0.1:9/nochannel\ndependencies:\n- python=3.11\n- numpy=1.26\n",
    );
    context.ok(&[
        "env",
        "register",
        "--name",
        "unreachable",
        "--conda-file",
        "unreachable.yml",
    ]);
    let output = context.run(&["env", "build", "unreachable"]);
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output.stderr.contains("http://127.0.0.1:9/nochannel"),
        "{output}"
    );

    context.write(
        "secret.txt",
        "--extra-index-url https://me:${STRATA_TEST_UNSET_SECRET}@127.0.0.1:9/simple\nsix\n",
    );
    context.ok(&[
        "env",
        "register",
        "--name",
        "secret",
        "--requirements",
        "secret.txt",
    ]);
    let output = context.run(&["env", "build", "secret"]);
    assert!(
        output
            .stderr
            .contains("Environment variable `STRATA_TEST_UNSET_SECRET`"),
        "{output}"
    );
}

#[test]
fn user_managed_environments_build_nothing() {
    let context = TestContext::new();
    let python = String::from_utf8(
        std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let dir = context.path().join("um");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(
        dir.join("azureml_environment.json"),
        format!("{{\"name\": \"um\", \"python\": {{\"userManagedDependencies\": true, \"interpreterPath\": \"{}\"}}}}", python.trim()),
    )
    .unwrap();
    context.ok(&["env", "register", "-d", "um"]);
    let built = build_json(&context, "um");
    assert_eq!(built["python"], python.trim());
    let lock = context.json(&["env", "lock", "um", "--json"]);
    assert!(
        lock["lock"]["userManaged"]["freeze"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    fs_err::write(
        dir.join("azureml_environment.json"),
        "{\"name\": \"um\", \"python\": {\"userManagedDependencies\": true, \"interpreterPath\": \"/nonexistent/python\"}}",
    )
    .unwrap();
    context.ok(&["env", "register", "-d", "um"]);
    let output = context.run(&["env", "build", "um"]);
    assert!(
        output
            .stderr
            .contains("The interpreter `/nonexistent/python` is not usable: it does not exist"),
        "{output}"
    );
    let _ = test_data();
}

#[test]
fn gc_keeps_what_any_workspace_uses() {
    let first = TestContext::new();
    let second = TestContext::new();
    let cache = tempfile::tempdir().unwrap();
    let run = |context: &TestContext, args: &[&str]| {
        let output = context.output(context.command_with_cache(cache.path()).args(args));
        assert_eq!(output.code, 0, "{output}");
        output.stdout
    };
    first.write("requirements.txt", "six==1.16.0\n");
    second.write("requirements.txt", "six==1.17.0\n");
    for context in [&first, &second] {
        run(
            context,
            &[
                "env",
                "register",
                "--name",
                "e",
                "--requirements",
                "requirements.txt",
            ],
        );
        run(context, &["env", "build", "e"]);
    }
    let kept: Value = serde_json::from_str(&run(&second, &["cache", "gc", "--json"])).unwrap();
    assert_eq!(kept["removed"].as_array().unwrap().len(), 0, "{kept}");
    // Once the first workspace is gone, its prefix is garbage.
    let first_prefix = run(&first, &["env", "build", "e"]);
    fs_err::remove_dir_all(first.path().join(".strata")).unwrap();
    let dry: Value =
        serde_json::from_str(&run(&second, &["cache", "gc", "--dry-run", "--json"])).unwrap();
    assert_eq!(dry["removed"].as_array().unwrap().len(), 1, "{dry}");
    assert!(
        Path::new(first_prefix.trim()).exists(),
        "a dry run removes nothing"
    );
    run(&second, &["cache", "gc"]);
    assert!(!Path::new(first_prefix.trim()).exists());
    // Over the size cap, used prefixes go too, least recently used first.
    let capped: Value =
        serde_json::from_str(&run(&second, &["cache", "gc", "--max-size", "0", "--json"])).unwrap();
    assert_eq!(capped["removed"].as_array().unwrap().len(), 1, "{capped}");
    // And the next build simply builds again.
    let path = run(&second, &["env", "build", "e"]);
    assert!(Path::new(path.trim()).join("strata-prefix.json").is_file());
}

#[test]
fn quickstart_runs_every_step() {
    let context = TestContext::bare();
    let output = context.run(&["quickstart"]);
    assert_eq!(output.code, 0, "{output}");
    for step in [
        "1. Create an embedded workspace",
        "4. Register it again, unchanged (",
        "8. Build trainenv:2",
        "9. Build it again",
        "10. Run train.py as a tracked run",
        "11. Register the model from the run's outputs",
        "12. Deploy the model with score.py in the same environment",
        "13. Score three requests",
        "14. Show the run's environment and the service's lineage",
        "15. Delete the service",
    ] {
        assert!(output.stdout.contains(step), "missing `{step}`:\n{output}");
    }
    assert!(output.stdout.contains("Completed, accuracy=0."), "{output}");
    assert!(output.stdout.contains("cache hit, same prefix"), "{output}");
    assert_eq!(
        output.stdout.matches(r#"-> {"predictions": ["#).count(),
        3,
        "{output}"
    );
}

/// Issue #11, item 1: what `env exec` runs keeps its prefix from `cache gc` until it exits.
#[test]
fn gc_keeps_the_prefix_of_an_env_exec() {
    let context = TestContext::new();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = context.output(context.command_with_cache(cache.path()).args(args));
        assert_eq!(output.code, 0, "strata {}: {output}", args.join(" "));
        output.stdout
    };
    context.write("requirements.txt", "six==1.16.0\n");
    run(&[
        "env",
        "register",
        "--name",
        "e",
        "--requirements",
        "requirements.txt",
    ]);
    run(&["env", "build", "e"]);
    let started = context.path().join("started");
    let go = context.path().join("go");
    let script = format!(
        "import os, time\nopen({started:?}, 'w').close()\nwhile not os.path.exists({go:?}):\n    time.sleep(0.05)\nimport six\nprint('six', six.__version__)\n"
    );
    let child = context
        .command_with_cache(cache.path())
        .args(["env", "exec", "e", "--", "python", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let gc: Value =
        serde_json::from_str(&run(&["cache", "gc", "--max-size", "0", "--json"])).unwrap();
    assert_eq!(gc["removed"].as_array().unwrap().len(), 0, "{gc}");
    assert_eq!(gc["inUse"].as_array().unwrap().len(), 1, "{gc}");
    fs_err::write(&go, "").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("six 1.16.0"),
        "{output:?}"
    );
}
