//! Knowing what is inside (issue #17): `env search`, `env sbom` and `env audit` on locks the
//! tests build, PyPI through uv, conda from a local channel, private wheels at chosen versions.

use std::path::{Path, PathBuf};

use crate::common::{TestContext, test_data};

mod audit;
mod sbom;
mod search;
mod server;

/// Registers `name` from requirements and locks it.
pub(super) fn locked(context: &TestContext, name: &str, requirements: &str) {
    let file = format!("{name}.txt");
    context.write(&file, requirements);
    context.ok(&["env", "register", "--name", name, "--requirements", &file]);
    context.ok(&["env", "lock", name]);
}

/// A conda environment from the local test channel (mat-app, mat-hello, mat-lib 2.0.0).
pub(super) fn conda_locked(context: &TestContext) {
    let channel = context.path().join("channel");
    strata_build::test_channel::write_channel(
        &channel,
        &strata_build::test_channel::sample_packages(),
    )
    .unwrap();
    context.write(
        "environment.yml",
        &format!(
            "name: condaenv\nchannels:\n- file://{}\ndependencies:\n- python=3.11\n- mat-app\n- pip\n- pip:\n  - six==1.16.0\n",
            channel.display()
        ),
    );
    context.ok(&[
        "env",
        "register",
        "--name",
        "condaenv",
        "--conda-file",
        "environment.yml",
    ]);
    context.ok(&["env", "lock", "condaenv"]);
}

/// A pure-Python wheel of `strata-audit-probe` at `version`.
pub(super) fn probe_wheel(dir: &Path, version: &str) -> PathBuf {
    fs_err::create_dir_all(dir).unwrap();
    let wheel = dir.join(format!("strata_audit_probe-{version}-py3-none-any.whl"));
    let script = r#"
import sys, zipfile, hashlib, base64
path, version = sys.argv[1], sys.argv[2]
info = f"strata_audit_probe-{version}.dist-info"
files = {"strata_audit_probe/__init__.py": b"", f"{info}/METADATA": f"Metadata-Version: 2.1\nName: strata-audit-probe\nVersion: {version}\n".encode(), f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
record = ""
with zipfile.ZipFile(path, "w") as z:
    for name, data in files.items():
        z.writestr(name, data)
        record += f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
    record += f"{info}/RECORD,,\n"
    z.writestr(f"{info}/RECORD", record)
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&wheel)
        .arg(version)
        .status()
        .unwrap();
    assert!(status.success());
    wheel
}

/// Unfiltered stdout of a successful command (`TestContext::ok` replaces times and paths).
pub(super) fn raw_stdout(context: &TestContext, args: &[&str]) -> String {
    let output = context.command().args(args).output().unwrap();
    assert!(output.status.success(), "strata {}", args.join(" "));
    String::from_utf8(output.stdout).unwrap()
}

/// Replaces `(lock 0123456789ab)` (lock hashes move with PyPI and wheel timestamps).
pub(super) fn without_lock_hashes(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(index) = rest.find("(lock ") {
        out.push_str(&rest[..index + 6]);
        out.push_str("[HASH]");
        rest = &rest[(index + 18).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// `old` and `new`, locked to six 1.15.0 and 1.16.0, a run in `new:1` and a model `clf`
/// registered from it; returns the run's id.
pub(super) fn six_versions_with_a_run_and_a_model(context: &TestContext) -> String {
    locked(context, "old", "six==1.15.0\n");
    locked(context, "new", "six==1.16.0\n");
    context.write(
        "train.py",
        "import os\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/model.txt', 'w').write('w')\n",
    );
    context.ok(&["run", "--experiment", "exp", "--env", "new:1", "train.py"]);
    let run = context.json(&["runs", "list", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    context.ok(&[
        "model",
        "register",
        "--name",
        "clf",
        "--run",
        &run,
        "--path",
        "outputs/model.txt",
    ]);
    run
}

pub(super) fn advisories() -> String {
    test_data().join("advisories").display().to_string()
}
