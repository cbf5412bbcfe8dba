//! The machine failing under a command: a full disk during a run and after it.
#![expect(clippy::print_stderr, reason = "skipped tests say why")]

use crate::common::TestContext;

/// Runs `script` with the workspace on a 6 MiB tmpfs in a private mount namespace (root only;
/// CI runs as root, so there it must work).
fn on_small_disk(context: &TestContext, script: &str) -> Option<std::process::Output> {
    let id = std::process::Command::new("id").arg("-u").output().unwrap();
    let root = String::from_utf8_lossy(&id.stdout).trim() == "0";
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "the full-disk tests need root, which CI has"
        );
        eprintln!("skipped: mounting a small filesystem needs root");
        return None;
    }
    let strata = env!("CARGO_BIN_EXE_strata");
    let full = format!(
        "set -e\nmount -t tmpfs -o size=6M tmpfs disk\ncd disk\nS={strata}\n$S init >/dev/null\n{script}"
    );
    fs_err::create_dir_all(context.path().join("disk")).unwrap();
    let output = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &full])
        .current_dir(context.path())
        .env("STRATA_CACHE", crate::common::shared_cache())
        .env_remove("STRATA_WORKSPACE")
        .output()
        .expect("unshare");
    Some(output)
}

#[test]
fn a_run_on_a_full_disk_ends_failed_with_the_cause_and_commands_say_so() {
    let context = TestContext::bare();
    let Some(output) = on_small_disk(
        &context,
        r#"echo > requirements.txt
cat > train.py <<'PY'
import os
os.makedirs("outputs", exist_ok=True)
with open("outputs/big.bin", "wb") as f:
    f.write(b"x" * 5_000_000)
print("wrote the model")
PY
set +e
$S run --requirements requirements.txt train.py >run.out 2>run.err
echo "run exit $?"
cat run.err
$S runs list --json | tr -d '\n'; echo
rm -f outputs/big.bin .strata/runs/*/outputs/big.bin
dd if=/dev/zero of=fill bs=64k 2>/dev/null
$S env list 2>&1
echo "list exit $?"
"#,
    ) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("run exit 1\n"), "{stdout}");
    assert!(stdout.contains("No space left on device"), "{stdout}");
    let runs_line = stdout
        .lines()
        .find(|line| line.starts_with('['))
        .unwrap_or_else(|| panic!("{stdout}"));
    let runs: serde_json::Value = serde_json::from_str(runs_line).unwrap();
    assert_eq!(runs[0]["status"], "Failed", "{runs}");
    assert_eq!(runs[0]["exitCode"], 0, "{runs}");
    assert!(
        runs[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("No space left on device")),
        "{runs}"
    );
    assert!(
        stdout.contains("error: No space left on device for the workspace at ")
            && stdout.contains("list exit 1"),
        "{stdout}"
    );
}
