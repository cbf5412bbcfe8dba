//! Python interpreters: found on the machine with uv's discovery, or checked when named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache::Cache;
use crate::discovery::{self, VersionRequest};
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
/// `>=3.9,<3.12`: on PATH, in pyenv's versions, among uv-managed Pythons and conda
/// installations, then with uv's own discovery; when none matches, uv installs the requested
/// Python into Strata's tool directory where the network allows (not when
/// `STRATA_PYTHON_DOWNLOADS=never`).
pub fn find_system(
    uv: &Uv,
    cache: &Cache,
    request: &str,
    log: &mut BuildLog,
) -> Result<Interpreter, BuildError> {
    let wanted = VersionRequest::parse(request);
    let managed = cache.tools_dir().join("python");
    let places = discovery::places(&managed);
    // Installations seen, once each whatever the links to them: `VERSION (PATH)`.
    let mut found: Vec<(PathBuf, String)> = Vec::new();
    let mut note = |path: &Path, version: &str| {
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if !found.iter().any(|(seen, _)| *seen == real) {
            found.push((real, format!("{version} ({})", path.display())));
        }
    };
    for place in &places {
        for candidate in &place.candidates {
            if !wanted.may_match(candidate.named_version.as_deref()) {
                // Names on PATH may be shims that do not run: only installations are listed.
                if place.label != discovery::PATH_LABEL
                    && let Some(version) = &candidate.named_version
                {
                    note(&candidate.path, version);
                }
                continue;
            }
            // A pyenv shim for a version that is not selected fails here: its version is
            // found again under pyenv's own directory.
            let Ok((version, executable)) = query(&candidate.path) else {
                tracing::debug!("{} does not run; skipped", candidate.path.display());
                continue;
            };
            tracing::trace!("{}: Python {version}", candidate.path.display());
            if wanted.matches(&version) {
                log.line(&format!(
                    "python {request}: {} (found in {})",
                    executable.display(),
                    place.label
                ));
                return Ok(Interpreter {
                    path: executable,
                    version,
                });
            }
            note(&executable, &version);
        }
    }
    let mut command = uv.command();
    command.args(["python", "find", "--python-preference", "system", request]);
    if let Ok(output) = run(command, log) {
        let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if let Ok(interpreter) = probe(&path)
            && wanted.matches(&interpreter.version)
        {
            return Ok(interpreter);
        }
    }
    let download = match std::env::var("STRATA_PYTHON_DOWNLOADS").as_deref() {
        Ok("never") => Some("downloads are off (`STRATA_PYTHON_DOWNLOADS=never`)".to_string()),
        _ => match download(uv, &managed, request, log) {
            Ok(Some(interpreter)) if wanted.matches(&interpreter.version) => {
                return Ok(interpreter);
            }
            Ok(_) => Some("uv installed no matching Python".to_string()),
            Err(reason) => Some(reason),
        },
    };
    let found = found.into_iter().map(|(_, text)| text).collect();
    let mut searched: Vec<String> = places.iter().map(|p| p.label.clone()).collect();
    searched.push("uv's discovery".to_string());
    Err(BuildError::NoInterpreter {
        request: request.to_string(),
        found,
        searched,
        download,
    })
}

/// `uv python install` into `dir`; the interpreter it installed, or why it could not.
fn download(
    uv: &Uv,
    dir: &Path,
    request: &str,
    log: &mut BuildLog,
) -> Result<Option<Interpreter>, String> {
    let mut command = uv.command();
    command
        .env("UV_PYTHON_DOWNLOADS", "automatic")
        .args(["python", "install", "--install-dir"])
        .arg(dir)
        .arg(request);
    match run(command, log) {
        Ok(_) => {}
        Err(BuildError::Command { stderr, .. }) => {
            // uv's chain of causes: the first and the last say what and why.
            let lines: Vec<&str> = stderr
                .lines()
                .map(|l| {
                    l.trim()
                        .trim_start_matches("error: ")
                        .trim_start_matches("cause: ")
                })
                .filter(|l| !l.is_empty())
                .collect();
            let reason = match (lines.first(), lines.last()) {
                (Some(first), Some(last)) if first != last => format!("{first} ({last})"),
                (Some(first), _) => (*first).to_string(),
                _ => "uv failed".to_string(),
            };
            return Err(format!("uv could not download Python {request}: {reason}"));
        }
        Err(error) => return Err(error.to_string()),
    }
    let wanted = VersionRequest::parse(request);
    let place = discovery::places(dir)
        .into_iter()
        .find(|p| p.label == dir.display().to_string());
    for candidate in place.map(|p| p.candidates).unwrap_or_default() {
        if let Ok((version, executable)) = query(&candidate.path)
            && wanted.matches(&version)
        {
            log.line(&format!(
                "python {request}: {} (downloaded by uv)",
                executable.display()
            ));
            return Ok(Some(Interpreter {
                path: executable,
                version,
            }));
        }
    }
    Ok(None)
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
    let interpreter = find_system(uv, cache, request, log)?;
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
