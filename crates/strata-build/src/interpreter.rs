//! Python interpreters: found on the machine with uv's discovery, or checked when named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache::Cache;
use crate::error::BuildError;
use crate::reporter::BuildLog;
use crate::uv::{Uv, run, which};

/// A Python interpreter and its full version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub path: PathBuf,
    pub version: String,
}

/// Finds an installed interpreter matching a request such as `3.11`, `==3.11.7` or
/// `>=3.9,<3.12`, with uv's discovery (PATH, pyenv, uv-managed; never downloads).
pub fn find_system(uv: &Uv, request: &str, log: &mut BuildLog) -> Result<Interpreter, BuildError> {
    let mut command = uv.command();
    command.args([
        "python",
        "find",
        "--python-preference",
        "only-system",
        request,
    ]);
    match run(command, log) {
        Ok(output) => {
            let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            probe(&path)
        }
        Err(BuildError::Command { .. }) => Err(BuildError::NoInterpreter {
            request: request.to_string(),
            found: installed(uv, log),
        }),
        Err(error) => Err(error),
    }
}

/// Like [`find_system`], remembering the answer in the cache (keyed by the request and
/// checked against the interpreter's modification time): discovery through shims such as
/// pyenv's costs a few hundred milliseconds, a remembered answer nothing.
pub fn find_system_cached(
    uv: &Uv,
    cache: &Cache,
    request: &str,
    log: &mut BuildLog,
) -> Result<Interpreter, BuildError> {
    let file = cache.root().join("interpreters-v1.json");
    let mut known: BTreeMap<String, Remembered> = fs_err::read(&file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    if let Some(entry) = known.get(request)
        && modified(&entry.path) == Some(entry.modified)
    {
        log.line(&format!(
            "python {request}: {} (remembered)",
            entry.path.display()
        ));
        return Ok(Interpreter {
            path: entry.path.clone(),
            version: entry.version.clone(),
        });
    }
    let interpreter = match quick_find(request) {
        Some(interpreter) => {
            log.line(&format!(
                "python {request}: {} (found on PATH)",
                interpreter.path.display()
            ));
            interpreter
        }
        None => find_system(uv, request, log)?,
    };
    if let Some(modified) = modified(&interpreter.path) {
        known.insert(
            request.to_string(),
            Remembered {
                path: interpreter.path.clone(),
                version: interpreter.version.clone(),
                modified,
            },
        );
        if let Ok(text) = serde_json::to_vec(&known) {
            // Best effort: a lost write only costs a discovery next time.
            let staging = file.with_extension(format!("tmp{}", std::process::id()));
            if fs_err::write(&staging, text).is_ok() {
                let _ = fs_err::rename(&staging, &file);
            }
        }
    }
    Ok(interpreter)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    path: PathBuf,
    version: String,
    modified: u128,
}

fn modified(path: &Path) -> Option<u128> {
    let time = fs_err::metadata(path).ok()?.modified().ok()?;
    Some(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos())
}

/// Tries `pythonX.Y`, `python3` and `python` on PATH first: one interpreter start each, where
/// uv's full discovery starts every interpreter it can find.
fn quick_find(request: &str) -> Option<Interpreter> {
    let wanted = request.trim_start_matches("==");
    if !wanted
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let minor: Vec<&str> = wanted.split('.').take(2).collect();
    let mut names = Vec::new();
    if minor.len() == 2 {
        names.push(format!("python{}", minor.join(".")));
    }
    names.extend(["python3".to_string(), "python".to_string()]);
    for name in names {
        let Some(path) = which(&name) else { continue };
        let Ok((version, executable)) = query(&path) else {
            continue;
        };
        let matches = version == wanted || version.starts_with(&format!("{wanted}."));
        if matches {
            return Some(Interpreter {
                path: executable,
                version,
            });
        }
    }
    None
}

/// The version and real executable of an interpreter.
fn query(path: &Path) -> Result<(String, PathBuf), String> {
    let output = Command::new(path)
        .args([
            "-c",
            "import sys; print('.'.join(map(str, sys.version_info[:3]))); print(sys.executable)",
        ])
        .output()
        .map_err(|error| error.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default().trim().to_string();
    let executable = lines
        .next()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map_or_else(|| path.to_path_buf(), PathBuf::from);
    Ok((version, executable))
}

/// Every installed interpreter uv can see, as `VERSION (PATH)`.
fn installed(uv: &Uv, log: &mut BuildLog) -> Vec<String> {
    let mut command = uv.command();
    command.args([
        "python",
        "list",
        "--only-installed",
        "--python-preference",
        "only-system",
        "--output-format",
        "json",
    ]);
    let Ok(output) = run(command, log) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(&output.stdout) else {
        return Vec::new();
    };
    let mut found: Vec<String> = items
        .iter()
        .filter_map(|item| {
            Some(format!(
                "{} ({})",
                item.get("version")?.as_str()?,
                item.get("path")?.as_str()?
            ))
        })
        .collect();
    found.dedup();
    found
}

/// Runs an interpreter to learn its version; fails clearly when it is missing or broken.
pub fn probe(path: &Path) -> Result<Interpreter, BuildError> {
    let resolved = if path.components().count() == 1 {
        which(&path.to_string_lossy()).ok_or_else(|| BuildError::Interpreter {
            path: path.to_path_buf(),
            reason: "it is not on PATH".to_string(),
        })?
    } else {
        path.to_path_buf()
    };
    if !resolved.exists() {
        return Err(BuildError::Interpreter {
            path: resolved,
            reason: "it does not exist".to_string(),
        });
    }
    let output = Command::new(&resolved)
        .args([
            "-c",
            "import sys; print('.'.join(map(str, sys.version_info[:3])))",
        ])
        .output()
        .map_err(|error| BuildError::Interpreter {
            path: resolved.clone(),
            reason: format!("it does not run: {error}"),
        })?;
    if !output.status.success() {
        return Err(BuildError::Interpreter {
            path: resolved,
            reason: format!(
                "it exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(Interpreter {
        path: resolved,
        version: String::from_utf8_lossy(&output.stdout).trim().to_string(),
    })
}

/// Turns the version part of a conda `python` spec into a uv request: `3.11` and `3.11.*`
/// mean any 3.11, `>=3.9,<3.12` stays as it is.
pub(crate) fn uv_request(conda_version: Option<&str>) -> String {
    let Some(version) = conda_version.map(str::trim).filter(|v| !v.is_empty()) else {
        return "3".to_string();
    };
    let version = version.trim_start_matches('=');
    let version = version.strip_suffix(".*").unwrap_or(version);
    if version.starts_with(['<', '>', '!', '~']) {
        return version.to_string();
    }
    version.to_string()
}

#[cfg(test)]
mod tests {
    use super::uv_request;

    #[test]
    fn conda_versions_become_uv_requests() {
        assert_eq!(uv_request(Some("3.11")), "3.11");
        assert_eq!(uv_request(Some("3.11.*")), "3.11");
        assert_eq!(uv_request(Some("==3.11.7")), "3.11.7");
        assert_eq!(uv_request(Some(">=3.9,<3.12")), ">=3.9,<3.12");
        assert_eq!(uv_request(None), "3");
    }
}
