//! Bytecode for an image's prefix, compiled once per source file. A `.pyc` is cached under the
//! hash of the exact Python, the source's path in the image and its content, so an environment
//! that shares packages with one built before compiles only what is new. Cached or not, the
//! bytes are the same: hash-based `.pyc` (they embed the source's hash, not its time) from the
//! same compiler for the same path.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use sha2::{Digest as _, Sha256};

use crate::error::BuildError;
use crate::in_rootfs::{RootfsPython, Sandbox};
use crate::reporter::BuildLog;
use crate::uv::finish;

/// Compiles the files listed in `argv[1]` (paths inside the image), each in place, as
/// `py_compile` does for `pip install` and `compileall`; files that do not compile (Python 2
/// test data, templates) are skipped, as pip skips them.
const WORKER: &str = "import sys, py_compile
mode = py_compile.PycInvalidationMode.CHECKED_HASH
for path in open(sys.argv[1]).read().splitlines():
    try:
        py_compile.compile(path, doraise=True, invalidation_mode=mode)
    except Exception:
        pass
";

/// What bytecode compiling did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BytecodeReport {
    pub(crate) cached: usize,
    pub(crate) compiled: usize,
}

/// Writes `__pycache__/*.pyc` for every `.py` under `staging/lib`, the prefix seen inside the
/// sandbox at `target`, taking them from `cache_dir` when it has them and compiling the rest
/// with the image's Python (`python`), in parallel.
pub(crate) fn compile(
    sandbox: &Sandbox,
    python: &RootfsPython,
    staging: &Path,
    target: &str,
    cache_dir: &Path,
    log: &mut BuildLog,
) -> Result<BytecodeReport, BuildError> {
    let tag = cache_tag(&python.version);
    let mut sources = Vec::new();
    collect(&staging.join("lib"), &mut sources)?;
    sources.sort();
    let mut report = BytecodeReport::default();
    let mut missing: Vec<(PathBuf, String)> = Vec::new();
    for source in sources {
        let relative = source.strip_prefix(staging).unwrap_or(&source);
        let inside = format!("{target}/{}", relative.display());
        let pyc = pyc_path(&source, &tag);
        if pyc.is_file() {
            // Shipped by the package (conda's Python does): kept as it is.
            continue;
        }
        let content = fs_err::read(&source).map_err(|e| BuildError::io(&source, e))?;
        let key = key(&python.version, &inside, &content);
        let cached = cache_dir.join(&key[..2]).join(&key);
        if cached.is_file() {
            place(&cached, &pyc)?;
            report.cached += 1;
        } else {
            missing.push((source, key));
        }
    }
    if !missing.is_empty() {
        run_workers(sandbox, python, staging, target, &missing, log)?;
        for (source, key) in &missing {
            let pyc = pyc_path(source, &tag);
            if !pyc.is_file() {
                continue;
            }
            report.compiled += 1;
            let dir = cache_dir.join(&key[..2]);
            fs_err::create_dir_all(&dir).map_err(|e| BuildError::io(&dir, e))?;
            let staged = dir.join(format!(".{key}.{}", std::process::id()));
            link_or_copy(&pyc, &staged)?;
            fs_err::rename(&staged, dir.join(key)).map_err(|e| BuildError::io(&dir, e))?;
        }
    }
    log.line(&format!(
        "bytecode: {} from the cache, {} compiled",
        report.cached, report.compiled
    ));
    Ok(report)
}

/// `cpython-311` for `3.11.2`: what `sys.implementation.cache_tag` is for CPython.
fn cache_tag(version: &str) -> String {
    let mut parts = version.split('.');
    format!(
        "cpython-{}{}",
        parts.next().unwrap_or("3"),
        parts.next().unwrap_or("0")
    )
}

fn key(version: &str, inside: &str, content: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(version.as_bytes());
    hasher.update(b"\0");
    hasher.update(inside.as_bytes());
    hasher.update(b"\0");
    hasher.update(content);
    hex::encode(hasher.finalize())
}

/// `dir/__pycache__/name.cpython-311.pyc` for `dir/name.py`, as importlib names it.
fn pyc_path(source: &Path, tag: &str) -> PathBuf {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    source
        .parent()
        .unwrap_or(Path::new("."))
        .join("__pycache__")
        .join(format!("{stem}.{tag}.pyc"))
}

fn place(cached: &Path, pyc: &Path) -> Result<(), BuildError> {
    if let Some(dir) = pyc.parent() {
        fs_err::create_dir_all(dir).map_err(|e| BuildError::io(dir, e))?;
    }
    link_or_copy(cached, pyc)
}

/// Cache and staging directory are both in Strata's cache, so usually on one file system; the
/// files are only read afterwards, so sharing them is safe.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), BuildError> {
    if fs_err::hard_link(from, to).is_err() {
        fs_err::copy(from, to).map_err(|e| BuildError::io(to, e))?;
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), BuildError> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| BuildError::io(dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| BuildError::io(&path, e))?;
        if file_type.is_dir() {
            if entry.file_name() != "__pycache__" {
                collect(&path, out)?;
            }
        } else if file_type.is_file() && path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
    Ok(())
}

/// One worker per core, each compiling its share of the files (listed in files bound into the
/// sandbox).
fn run_workers(
    sandbox: &Sandbox,
    python: &RootfsPython,
    staging: &Path,
    target: &str,
    missing: &[(PathBuf, String)],
    log: &mut BuildLog,
) -> Result<(), BuildError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(missing.len());
    let lists = tempfile::tempdir().map_err(|e| BuildError::io(Path::new("/tmp"), e))?;
    let mut children: Vec<(Child, String)> = Vec::new();
    for worker in 0..workers {
        let list: String = missing
            .iter()
            .skip(worker)
            .step_by(workers)
            .map(|(source, _)| {
                let relative = source.strip_prefix(staging).unwrap_or(source);
                format!("{target}/{}\n", relative.display())
            })
            .collect();
        let file = lists.path().join(format!("{worker}.txt"));
        fs_err::write(&file, list).map_err(|e| BuildError::io(&file, e))?;
        let mut sandbox = sandbox.clone();
        let inside = format!("/tmp/strata/compile-{worker}.txt");
        sandbox.bind(&file, &inside, false);
        let mut command = sandbox.command(&[], &python.path);
        command
            .args(["-c", WORKER, &inside])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let display = format!("{} -c <compile> {inside}", python.path);
        log.line(&format!("$ {display}"));
        let child = command.spawn().map_err(|source| BuildError::Io {
            path: PathBuf::from(&python.path),
            source,
        })?;
        children.push((child, display));
    }
    for (child, display) in children {
        let output = child
            .wait_with_output()
            .map_err(|e| BuildError::io(Path::new(&python.path), e))?;
        finish(display, output, log)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyc_names_follow_importlib() {
        assert_eq!(cache_tag("3.11.2"), "cpython-311");
        assert_eq!(cache_tag("3.12.10"), "cpython-312");
        assert_eq!(
            pyc_path(
                Path::new("/p/lib/python3.11/site-packages/six.py"),
                "cpython-311"
            ),
            Path::new("/p/lib/python3.11/site-packages/__pycache__/six.cpython-311.pyc")
        );
    }

    #[test]
    fn keys_change_with_python_path_and_content() {
        let base = key("3.11.2", "/opt/strata/env/lib/a.py", b"x = 1\n");
        assert_ne!(base, key("3.11.3", "/opt/strata/env/lib/a.py", b"x = 1\n"));
        assert_ne!(base, key("3.11.2", "/opt/strata/env/lib/b.py", b"x = 1\n"));
        assert_ne!(base, key("3.11.2", "/opt/strata/env/lib/a.py", b"x = 2\n"));
        assert_eq!(base, key("3.11.2", "/opt/strata/env/lib/a.py", b"x = 1\n"));
    }
}
