//! Where installed Python interpreters are looked for: PATH, pyenv's versions, uv-managed
//! Pythons (uv's own directory and Strata's), and conda installations. pyenv shims on PATH
//! only answer for the selected version, so the versions behind them are searched directly.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::pep440_rs::{Version, VersionSpecifiers};

/// The label of the place that is `PATH`.
pub(crate) const PATH_LABEL: &str = "PATH";

/// One place searched, and the interpreters it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    /// How the place is named to the user: `PATH`, or a directory.
    pub(crate) label: String,
    pub(crate) candidates: Vec<Candidate>,
}

/// An interpreter a place offers, with the version its name promises (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) path: PathBuf,
    pub(crate) named_version: Option<String>,
}

/// What a version request accepts: `3`, `3.11`, `3.11.7`, `==3.11.7` or PEP 440 specifiers.
#[derive(Debug, Clone)]
pub(crate) struct VersionRequest(Option<VersionSpecifiers>);

impl VersionRequest {
    pub(crate) fn parse(request: &str) -> Self {
        let request = request.trim();
        let bare = request.trim_start_matches("==");
        let specifiers = if !bare.is_empty()
            && bare
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        {
            // A bare version is a prefix: `3.11` is any 3.11, `3.11.7` that release.
            if bare.split('.').count() >= 3 {
                format!("=={bare}")
            } else {
                format!("=={bare}.*")
            }
        } else {
            request.to_string()
        };
        Self(VersionSpecifiers::from_str(&specifiers).ok())
    }

    /// Whether a full version matches; an unparseable request matches nothing.
    pub(crate) fn matches(&self, version: &str) -> bool {
        let (Some(specifiers), Ok(version)) = (&self.0, Version::from_str(version)) else {
            return false;
        };
        specifiers.contains(&version)
    }

    /// Whether a version promised by a name (`3.12`, `3.12.1`) could match; no name, maybe.
    pub(crate) fn may_match(&self, named: Option<&str>) -> bool {
        let Some(named) = named else { return true };
        if named.split('.').count() >= 3 {
            return self.matches(named);
        }
        // `python3.12` promises some 3.12: try its lowest and a high patch release.
        self.matches(&format!("{named}.0")) || self.matches(&format!("{named}.999"))
    }
}

/// Every place searched, in order of preference, for this machine's environment.
pub(crate) fn places(strata_pythons: &Path) -> Vec<Place> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut places = vec![path_place()];
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".pyenv")));
    if let Some(root) = pyenv_root {
        places.push(versions_place(&root.join("versions"), |name| {
            name.split('-').next().filter(|v| v.starts_with('3'))
        }));
    }
    let uv_dir = std::env::var_os("UV_PYTHON_INSTALL_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME")
                .map(|d| PathBuf::from(d).join("uv/python"))
                .or_else(|| home.as_ref().map(|h| h.join(".local/share/uv/python")))
        });
    for dir in uv_dir.into_iter().chain([strata_pythons.to_path_buf()]) {
        places.push(versions_place(&dir, uv_managed_version));
    }
    if let Some(home) = &home {
        for base in ["miniforge3", "miniconda3", "anaconda3", "mambaforge"] {
            places.push(conda_place(&home.join(base)));
        }
    }
    places.push(conda_place(Path::new("/opt/conda")));
    places
}

/// `cpython-3.12.1-linux-x86_64-gnu` → `3.12.1`.
fn uv_managed_version(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("cpython-")?;
    rest.split(['-', '+']).next()
}

fn path_place() -> Place {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let Ok(entries) = fs_err::read_dir(&dir) else {
                continue;
            };
            let mut found: Vec<(String, PathBuf)> = entries
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let version = name.strip_prefix("python")?;
                    let plain = version.is_empty() || version == "3";
                    let minor = version.starts_with("3.")
                        && version[2..].bytes().all(|b| b.is_ascii_digit())
                        && version.len() > 2;
                    (plain || minor).then(|| (name, entry.path()))
                })
                .filter(|(_, path)| is_executable(path))
                .collect();
            // `python3.12` before `python3` before `python`: the named ones say what they are.
            found.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| b.0.cmp(&a.0)));
            for (name, path) in found {
                let named_version = name
                    .strip_prefix("python")
                    .filter(|v| v.starts_with("3."))
                    .map(str::to_string);
                candidates.push(Candidate {
                    path,
                    named_version,
                });
            }
        }
    }
    Place {
        label: PATH_LABEL.to_string(),
        candidates,
    }
}

/// A directory of one installation per version (pyenv's, uv's), newest first.
fn versions_place(dir: &Path, version_of: impl Fn(&str) -> Option<&str>) -> Place {
    let mut found: Vec<(Version, String, PathBuf)> = Vec::new();
    if let Ok(entries) = fs_err::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(version) = version_of(&name) else {
                continue;
            };
            let Ok(parsed) = Version::from_str(version) else {
                continue;
            };
            let python = entry.path().join("bin/python3");
            if is_executable(&python) {
                found.push((parsed, version.to_string(), python));
            }
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0));
    Place {
        label: dir.display().to_string(),
        candidates: found
            .into_iter()
            .map(|(_, version, path)| Candidate {
                path,
                named_version: Some(version),
            })
            .collect(),
    }
}

/// A conda installation: its base and every environment under `envs/`.
fn conda_place(base: &Path) -> Place {
    let mut candidates = Vec::new();
    let mut prefixes = vec![base.to_path_buf()];
    if let Ok(entries) = fs_err::read_dir(base.join("envs")) {
        let mut envs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        envs.sort();
        prefixes.extend(envs);
    }
    for prefix in prefixes {
        let python = prefix.join("bin/python3");
        if is_executable(&python) {
            candidates.push(Candidate {
                path: python,
                named_version: None,
            });
        }
    }
    Place {
        label: base.display().to_string(),
        candidates,
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs_err::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_match_versions_the_way_pep_440_does() {
        let minor = VersionRequest::parse("3.12");
        assert!(minor.matches("3.12.1") && !minor.matches("3.1.12") && !minor.matches("3.13.0"));
        assert!(VersionRequest::parse("==3.11.7").matches("3.11.7"));
        assert!(!VersionRequest::parse("==3.11.7").matches("3.11.10"));
        let range = VersionRequest::parse(">=3.9,<3.12");
        assert!(range.matches("3.10.13") && range.matches("3.9.18") && !range.matches("3.12.0"));
        assert!(VersionRequest::parse("3").matches("3.13.0"));
        assert!(minor.may_match(Some("3.12")) && !minor.may_match(Some("3.10")));
        assert!(range.may_match(Some("3.11")) && !range.may_match(Some("3.8")));
        assert!(minor.may_match(None));
    }

    #[test]
    fn version_directories_are_read_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["3.8.18", "3.12.1", "3.10.13", "2.7.18", "system"] {
            let bin = dir.path().join(name).join("bin");
            fs_err::create_dir_all(&bin).unwrap();
            fs_err::write(bin.join("python3"), "#!/bin/sh\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(bin.join("python3"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let place = versions_place(dir.path(), |name| {
            name.split('-').next().filter(|v| v.starts_with('3'))
        });
        let versions: Vec<_> = place
            .candidates
            .iter()
            .map(|c| c.named_version.clone().unwrap())
            .collect();
        assert_eq!(versions, ["3.12.1", "3.10.13", "3.8.18"]);
        assert_eq!(
            uv_managed_version("cpython-3.12.1-linux-x86_64-gnu"),
            Some("3.12.1")
        );
    }
}
