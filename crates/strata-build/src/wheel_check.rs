//! Before uv compiles anything: which locked PyPI packages no wheel serves for this Python
//! and platform (uv would build them from source, slowly and with a compiler), and which
//! Pythons their wheels are for, from the index's JSON API (PEP 691).

use std::collections::BTreeSet;
use std::path::Path;

use strata_spec::{Lock, PypiSource};

use crate::reporter::BuildLog;
use crate::uv::Uv;

/// A locked package that only a source distribution serves here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceOnly {
    pub(crate) name: String,
    pub(crate) version: String,
    /// The Python versions (`3.9`) that have a wheel of it for Linux x86_64, when the index
    /// said.
    pub(crate) wheel_pythons: Option<Vec<String>>,
}

/// Asks uv, without installing, which locked packages need a build: a dry run that allows
/// only wheels names the first package without one; it is allowed to build and asked again.
pub(crate) fn source_only_packages(
    uv: &Uv,
    python: &Path,
    requirements: &Path,
    lock: &Lock,
    log: &mut BuildLog,
) -> Vec<SourceOnly> {
    let mut found: Vec<(String, String)> = Vec::new();
    for _ in 0..lock.pypi.len().min(16) {
        let mut command = uv.command();
        command
            .args(["pip", "sync", "--dry-run", "--quiet", "--require-hashes"])
            .args(["--only-binary", ":all:"])
            .arg("--python")
            .arg(python);
        for (name, _) in &found {
            command.arg("--no-binary").arg(name);
        }
        command.arg(requirements);
        let Ok(output) = command.output() else { break };
        if output.status.success() {
            break;
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        match no_wheel_in(&stderr) {
            Some(package) if !found.contains(&package) => found.push(package),
            _ => break,
        }
    }
    found
        .into_iter()
        .map(|(name, version)| {
            let index = lock.pypi.iter().find_map(|p| match &p.source {
                PypiSource::Index { url } if p.name == name => Some(url.clone()),
                _ => None,
            });
            let wheel_pythons = index.and_then(|index| wheel_pythons(&index, &name, &version));
            log.line(&format!(
                "no wheel of {name} {version} for this Python; wheels for: {wheel_pythons:?}"
            ));
            SourceOnly {
                name,
                version,
                wheel_pythons,
            }
        })
        .collect()
}

/// `Because pandas==1.3.1 has no usable wheels ...` (and uv's other "has no wheels with a
/// matching ... tag" forms) → `("pandas", "1.3.1")`.
fn no_wheel_in(stderr: &str) -> Option<(String, String)> {
    let at = stderr.find(" has no ")?;
    let before = &stderr[..at];
    let start = before.rfind("Because ").map_or(0, |i| i + "Because ".len());
    let (name, version) = before[start..].trim().split_once("==")?;
    let tail = &stderr[at..];
    (tail.starts_with(" has no usable wheels") || tail.starts_with(" has no wheels"))
        .then(|| (strata_spec::normalize_name(name), version.to_string()))
}

/// The Pythons with a Linux x86_64 (or pure) wheel of `name` `version` on the index.
fn wheel_pythons(index: &str, name: &str, version: &str) -> Option<Vec<String>> {
    let url = format!("{}/{}/", index.trim_end_matches('/'), name);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let body = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .ok()?;
        let response = client
            .get(&url)
            .header("Accept", "application/vnd.pypi.simple.v1+json")
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.bytes().await.ok()
    })?;
    let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let files = value.get("files")?.as_array()?;
    let names = files
        .iter()
        .filter_map(|file| file.get("filename")?.as_str());
    Some(pythons_of_wheels(names, version))
}

/// The Python versions the Linux x86_64 or pure wheels of `version` are for, oldest first.
fn pythons_of_wheels<'a>(filenames: impl Iterator<Item = &'a str>, version: &str) -> Vec<String> {
    let mut pythons: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut any = false;
    for filename in filenames {
        let Some(stem) = filename.strip_suffix(".whl") else {
            continue;
        };
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.len() < 5 || parts[1] != version {
            continue;
        }
        let (python_tags, platform) = (parts[parts.len() - 3], parts[parts.len() - 1]);
        let linux = platform == "any"
            || platform.split('.').any(|p| {
                p.ends_with("x86_64") && (p.starts_with("manylinux") || p.starts_with("linux"))
            });
        if !linux {
            continue;
        }
        for tag in python_tags.split('.') {
            let digits = tag.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            match digits.len() {
                1 => any = true,
                n if n >= 2 => {
                    if let (Ok(major), Ok(minor)) = (digits[..1].parse(), digits[1..].parse()) {
                        pythons.insert((major, minor));
                    }
                }
                _ => {}
            }
        }
    }
    let mut names: Vec<String> = pythons
        .into_iter()
        .map(|(major, minor)| format!("{major}.{minor}"))
        .collect();
    if any {
        names.push("any Python 3 (a pure wheel)".to_string());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uv_names_the_package_without_a_wheel() {
        let stderr = "error: No solution found when resolving dependencies\n  cause: Because pandas==1.3.1 has no usable wheels and you require pandas==1.3.1, we can conclude that your requirements are unsatisfiable.\n";
        assert_eq!(
            no_wheel_in(stderr),
            Some(("pandas".to_string(), "1.3.1".to_string()))
        );
        let tagged = "  cause: Because Foo_Bar==2.0 has no wheels with a matching Python ABI tag (e.g., `cp311`)";
        assert_eq!(
            no_wheel_in(tagged),
            Some(("foo-bar".to_string(), "2.0".to_string()))
        );
        assert_eq!(no_wheel_in("error: Failed to download `six==1.16.0`"), None);
    }

    #[test]
    fn wheel_tags_become_python_versions() {
        let files = [
            "pandas-1.3.1-cp37-cp37m-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "pandas-1.3.1-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "pandas-1.3.1-cp38-cp38-win_amd64.whl",
            "pandas-1.3.1-cp310-cp310-macosx_11_0_arm64.whl",
            "pandas-1.3.1-cp38-cp38-manylinux1_x86_64.whl",
            "pandas-1.3.0-cp311-cp311-manylinux1_x86_64.whl",
            "pandas-1.3.1.tar.gz",
        ];
        assert_eq!(
            pythons_of_wheels(files.into_iter(), "1.3.1"),
            ["3.7", "3.8", "3.9"]
        );
        assert_eq!(
            pythons_of_wheels(["six-1.16.0-py2.py3-none-any.whl"].into_iter(), "1.16.0"),
            ["any Python 3 (a pure wheel)"]
        );
    }
}
