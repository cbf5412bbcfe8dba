//! Existing conda environments: a prefix directory read into a conda specification without a
//! conda binary, as `conda env export --no-builds` would write it (which is what Azure ML's
//! `from_existing_conda_environment` runs).
//!
//! Conda packages come from the records in `conda-meta/`; pip packages from the `*.dist-info`
//! directories in `site-packages` that conda did not install.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::conda::{CondaDependency, CondaSpec};
use crate::error::{Location, Parsed, Source, SpecError};
use crate::match_spec::MatchSpec;
use crate::pip::normalize_name;

/// The fields of a `conda-meta/*.json` record Strata needs.
#[derive(Debug, Deserialize)]
struct Record {
    name: String,
    version: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    subdir: Option<String>,
    #[serde(default)]
    url: Option<String>,
    /// Files the package installed, relative to the prefix.
    #[serde(default)]
    files: Vec<String>,
}

/// The channels of `https://repo.anaconda.com/pkgs/` that make up `defaults`.
const DEFAULT_CHANNELS: [&str; 4] = ["main", "r", "free", "msys2"];

/// Platforms of conda subdirs (`linux-64`, `osx-arm64`, ...).
const PLATFORMS: [&str; 7] = [
    "linux",
    "osx",
    "win",
    "emscripten",
    "wasi",
    "zos",
    "freebsd",
];

/// Reads the conda environment at `prefix` into a conda specification.
pub fn read_conda_prefix(prefix: &Path) -> Result<Parsed<CondaSpec>, SpecError> {
    fs_err::metadata(prefix).map_err(|source| SpecError::Read {
        path: prefix.to_path_buf(),
        source,
    })?;
    let meta = prefix.join("conda-meta");
    if !meta.is_dir() {
        return Err(SpecError::invalid(
            Source::file(prefix.display().to_string()),
            "not a conda environment: it has no `conda-meta` directory",
        ));
    }
    let mut warnings = Vec::new();
    let mut records = read_records(&meta)?;
    records.sort_by(|(_, a), (_, b)| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));

    // Channels with the most packages come first (priority order); ties keep first appearance.
    let mut channels: Vec<String> = Vec::new();
    let mut channel_counts: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
    let mut dependencies = Vec::with_capacity(records.len() + 2);
    for (path, record) in &records {
        let channel = record.channel.clone().or_else(|| {
            record
                .url
                .as_deref()
                .and_then(|url| url.rsplit_once('/'))
                .map(|(dir, _)| dir.to_string())
        });
        if let Some(channel) = channel.filter(|c| !c.trim().is_empty()) {
            let channel = normalize_channel(&channel, record.subdir.as_deref());
            *channel_counts.entry(channel.clone()).or_default() += 1;
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        let spec = format!("{}={}", record.name, record.version);
        MatchSpec::parse(&spec).map_err(|error| {
            SpecError::invalid(
                Source::file(path.display().to_string()).field("version"),
                error.to_string(),
            )
        })?;
        dependencies.push(CondaDependency::Conda(spec));
    }

    let records: Vec<Record> = records.into_iter().map(|(_, record)| record).collect();
    let python = records.iter().find(|record| record.name == "python");
    if python.is_none() {
        warnings.push(format!(
            "`{}` has no `python` conda package: add one with a version (for example `python=3.11`) so the environment can run Python",
            prefix.display()
        ));
    }
    let python_version = python.and_then(|record| {
        let mut parts = record.version.split('.');
        Some(format!("{}.{}", parts.next()?, parts.next()?))
    });

    let pip = pip_packages(prefix, &records, python_version.as_deref(), &mut warnings)?;
    if !pip.is_empty() {
        if !records.iter().any(|record| record.name == "pip") {
            dependencies.push(CondaDependency::Conda("pip".to_string()));
        }
        dependencies.push(CondaDependency::Pip(pip));
    }

    // A stable sort keeps first appearance among equal counts.
    channels.sort_by_key(|channel| {
        std::cmp::Reverse(channel_counts.get(channel).copied().unwrap_or(0))
    });
    let spec = CondaSpec {
        name: Some(environment_name(prefix)),
        channels,
        dependencies,
        ..CondaSpec::default()
    };
    Ok(Parsed {
        value: spec,
        warnings,
    })
}

/// Every `conda-meta/*.json` record with its file, in file-name order.
fn read_records(meta: &Path) -> Result<Vec<(PathBuf, Record)>, SpecError> {
    let mut records = Vec::new();
    for path in record_paths(meta)? {
        let text = crate::text::read_text(&path)?;
        let record: Record = serde_json::from_str(&text).map_err(|error| {
            let location = (error.line() > 0).then(|| Location {
                line: error.line(),
                column: error.column(),
            });
            let mut message = error.to_string();
            if let Some(index) = message.find(" at line ") {
                message.truncate(index);
            }
            SpecError::invalid(
                Source::file(path.display().to_string()).at(location),
                format!("not a conda package record: {message}"),
            )
        })?;
        records.push((path, record));
    }
    Ok(records)
}

fn record_paths(meta: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let mut paths = Vec::new();
    for path in list_dir(meta)? {
        if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// A channel as `conda env export` writes it: without the subdir, `conda-forge` for
/// `https://conda.anaconda.org/conda-forge`, `defaults` for `https://repo.anaconda.com/pkgs/main`.
fn normalize_channel(channel: &str, subdir: Option<&str>) -> String {
    let mut channel = channel.trim().trim_end_matches('/');
    if let Some((head, last)) = channel.rsplit_once('/')
        && !head.ends_with(':')
        && !head.ends_with(":/")
        && (Some(last) == subdir || is_subdir(last))
    {
        channel = head;
    }
    for scheme in ["https://", "http://"] {
        if let Some(rest) = channel
            .strip_prefix(scheme)
            .and_then(|rest| rest.strip_prefix("conda.anaconda.org/"))
            .filter(|rest| !rest.is_empty())
        {
            return rest.to_string();
        }
        for host in ["repo.anaconda.com/pkgs/", "repo.continuum.io/pkgs/"] {
            if let Some(rest) = channel
                .strip_prefix(scheme)
                .and_then(|rest| rest.strip_prefix(host))
                && DEFAULT_CHANNELS.contains(&rest)
            {
                return "defaults".to_string();
            }
        }
    }
    if let Some(rest) = channel.strip_prefix("pkgs/")
        && DEFAULT_CHANNELS.contains(&rest)
    {
        return "defaults".to_string();
    }
    channel.to_string()
}

fn is_subdir(name: &str) -> bool {
    name == "noarch"
        || name.split_once('-').is_some_and(|(platform, arch)| {
            PLATFORMS.contains(&platform)
                && !arch.is_empty()
                && arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `name==version` of every package in `site-packages` that conda did not install, sorted by
/// normalised name.
fn pip_packages(
    prefix: &Path,
    records: &[Record],
    python_version: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, SpecError> {
    let conda_names: HashSet<String> = records
        .iter()
        .map(|record| normalize_name(&record.name))
        .collect();
    let conda_files: HashSet<&str> = records
        .iter()
        .flat_map(|record| record.files.iter().map(String::as_str))
        .collect();
    let mut packages = BTreeMap::new();
    for site_packages in site_packages_dirs(prefix, python_version)? {
        for dist_info in list_dir(&site_packages)? {
            let is_dist_info = dist_info
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(".dist-info"));
            if !is_dist_info || !dist_info.is_dir() {
                continue;
            }
            let metadata_path = dist_info.join("METADATA");
            let owned_by_conda = metadata_path
                .strip_prefix(prefix)
                .ok()
                .and_then(|relative| relative.to_str())
                .is_some_and(|relative| conda_files.contains(relative.replace('\\', "/").as_str()));
            if owned_by_conda
                || read_optional(&dist_info.join("INSTALLER"))?.is_some_and(|i| i.trim() == "conda")
            {
                continue;
            }
            let Some(metadata) = read_optional(&metadata_path)? else {
                warnings.push(format!(
                    "`{}` has no `METADATA` file; the package is left out",
                    dist_info.display()
                ));
                continue;
            };
            let (Some(name), Some(version)) =
                (header(&metadata, "Name"), header(&metadata, "Version"))
            else {
                warnings.push(format!(
                    "`{}` has no `Name` or `Version`; the package is left out",
                    metadata_path.display()
                ));
                continue;
            };
            let normalized = normalize_name(name);
            if conda_names.contains(&normalized) || packages.contains_key(&normalized) {
                continue;
            }
            if let Some(direct_url) = read_optional(&dist_info.join("direct_url.json"))?
                && direct_url.contains("\"file:")
            {
                warnings.push(format!(
                    "The pip package `{name}` was installed from a local file or directory, so `{name}=={version}` may not be found on a package index: build a wheel and add it with `strata env add-wheel FILE`"
                ));
            }
            packages.insert(normalized, format!("{name}=={version}"));
        }
    }
    Ok(packages.into_values().collect())
}

/// `lib/pythonX.Y/site-packages` (only the running Python's when its version is known) and
/// Windows' `Lib/site-packages`.
fn site_packages_dirs(
    prefix: &Path,
    python_version: Option<&str>,
) -> Result<Vec<PathBuf>, SpecError> {
    let mut dirs = Vec::new();
    let lib = prefix.join("lib");
    if lib.is_dir() {
        for dir in list_dir(&lib)? {
            let Some(name) = dir.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            let matches = match python_version {
                Some(version) => {
                    name == format!("python{version}") || name == format!("python{version}t")
                }
                None => name.starts_with("python"),
            };
            let site_packages = dir.join("site-packages");
            if matches && site_packages.is_dir() {
                dirs.push(site_packages);
            }
        }
    }
    let windows = prefix.join("Lib").join("site-packages");
    if windows.is_dir() {
        let canonical = fs_err::canonicalize(&windows).ok();
        let seen = dirs
            .iter()
            .any(|dir| canonical.is_some() && fs_err::canonicalize(dir).ok() == canonical);
        if !seen {
            dirs.push(windows);
        }
    }
    Ok(dirs)
}

/// The value of a header of core metadata (`METADATA`, an email-style header block).
fn header<'a>(metadata: &'a str, name: &str) -> Option<&'a str> {
    metadata
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The entries of a directory, sorted.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let read_error = |source| SpecError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in fs_err::read_dir(dir).map_err(read_error)? {
        paths.push(entry.map_err(read_error)?.path());
    }
    paths.sort();
    Ok(paths)
}

/// A text file's content, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, SpecError> {
    crate::text::read_optional_text(path)
}

/// The environment's name: the prefix directory's name.
fn environment_name(prefix: &Path) -> String {
    prefix
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .or_else(|| {
            fs_err::canonicalize(prefix)
                .ok()?
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "base".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-data/conda-prefix/myenv"
    );

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, text).unwrap();
    }

    #[test]
    fn reads_the_fixture_like_conda_env_export() {
        let parsed = read_conda_prefix(Path::new(FIXTURE)).unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        insta::assert_snapshot!(parsed.value.to_yaml(), @"
        name: myenv
        channels:
        - conda-forge
        - defaults
        dependencies:
        - ca-certificates=2024.3.11
        - numpy=1.26.4
        - pip=24.0
        - python=3.11.7
        - pip:
          - requests==2.31.0
          - Six==1.16.0
        ");
    }

    #[test]
    fn normalises_channels() {
        let cases = [
            (
                "https://conda.anaconda.org/conda-forge/linux-64",
                Some("linux-64"),
                "conda-forge",
            ),
            (
                "https://conda.anaconda.org/pytorch/osx-arm64",
                None,
                "pytorch",
            ),
            (
                "https://conda.anaconda.org/conda-forge/label/dev/noarch",
                Some("noarch"),
                "conda-forge/label/dev",
            ),
            (
                "https://repo.anaconda.com/pkgs/main/win-64",
                Some("win-64"),
                "defaults",
            ),
            (
                "https://repo.anaconda.com/pkgs/r/noarch",
                Some("noarch"),
                "defaults",
            ),
            ("pkgs/main", None, "defaults"),
            ("conda-forge", Some("linux-64"), "conda-forge"),
            (
                "file:///opt/channel/linux-64",
                Some("linux-64"),
                "file:///opt/channel",
            ),
            (
                "https://mirror.example.org/conda/linux-aarch64/",
                None,
                "https://mirror.example.org/conda",
            ),
        ];
        for (channel, subdir, expected) in cases {
            assert_eq!(normalize_channel(channel, subdir), expected, "{channel}");
        }
    }

    #[test]
    fn windows_layout_and_pip_filters() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("winenv");
        write(
            &prefix,
            "conda-meta/python-3.10.13-h4de0772_0.json",
            r#"{"name": "python", "version": "3.10.13", "build": "h4de0772_0", "channel": "https://conda.anaconda.org/conda-forge/win-64", "subdir": "win-64"}"#,
        );
        write(
            &prefix,
            "conda-meta/pyyaml-6.0.1-py310h8d17308_1.json",
            r#"{"name": "pyyaml", "version": "6.0.1", "channel": "https://conda.anaconda.org/conda-forge/win-64", "subdir": "win-64",
                "files": ["Lib/site-packages/yaml/__init__.py"]}"#,
        );
        write(
            &prefix,
            "conda-meta/tqdm-4.66.1-pyhd8ed1ab_0.json",
            r#"{"name": "tqdm", "version": "4.66.1", "url": "https://conda.anaconda.org/conda-forge/noarch/tqdm-4.66.1-pyhd8ed1ab_0.conda",
                "files": ["Lib/site-packages/tqdm_fork-4.66.1.dist-info/METADATA"]}"#,
        );
        write(&prefix, "conda-meta/history", "==> 2024-01-01 <==\n");
        write(&prefix, "conda-meta/notes.txt", "not a record\n");
        let site = "Lib/site-packages";
        // Same name as a conda package.
        write(
            &prefix,
            &format!("{site}/PyYAML-6.0.1.dist-info/METADATA"),
            "Name: PyYAML\nVersion: 6.0.1\n",
        );
        // Owned by a conda package although named differently.
        write(
            &prefix,
            &format!("{site}/tqdm_fork-4.66.1.dist-info/METADATA"),
            "Name: tqdm-fork\nVersion: 4.66.1\n",
        );
        write(
            &prefix,
            &format!("{site}/Azure_Core-1.29.5.dist-info/METADATA"),
            "Metadata-Version: 2.1\nName: azure-core\nVersion: 1.29.5\n\nName: not-a-header\n",
        );
        write(
            &prefix,
            &format!("{site}/Azure_Core-1.29.5.dist-info/INSTALLER"),
            "pip\n",
        );
        write(
            &prefix,
            &format!("{site}/mylib-0.1.dist-info/METADATA"),
            "Name: mylib\nVersion: 0.1\n",
        );
        write(
            &prefix,
            &format!("{site}/mylib-0.1.dist-info/direct_url.json"),
            r#"{"url": "file:///C:/src/mylib", "dir_info": {"editable": true}}"#,
        );
        write(&prefix, &format!("{site}/broken-1.0.dist-info/RECORD"), "");

        let parsed = read_conda_prefix(&prefix).unwrap();
        insta::assert_snapshot!(parsed.value.to_yaml(), @"
        name: winenv
        channels:
        - conda-forge
        dependencies:
        - python=3.10.13
        - pyyaml=6.0.1
        - tqdm=4.66.1
        - pip
        - pip:
          - azure-core==1.29.5
          - mylib==0.1
        ");
        let warnings = parsed
            .warnings
            .iter()
            .map(|w| {
                w.replace(&prefix.display().to_string(), "PREFIX")
                    .replace('\\', "/")
            })
            .collect::<Vec<_>>();
        insta::assert_debug_snapshot!(warnings, @r#"
        [
            "`PREFIX/Lib/site-packages/broken-1.0.dist-info` has no `METADATA` file; the package is left out",
            "The pip package `mylib` was installed from a local file or directory, so `mylib==0.1` may not be found on a package index: build a wheel and add it with `strata env add-wheel FILE`",
        ]
        "#);
    }

    #[test]
    fn missing_python_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "conda-meta/zlib-1.2.13-h5eee18b_0.json",
            r#"{"name": "zlib", "version": "1.2.13", "channel": "https://repo.anaconda.com/pkgs/main/linux-64", "subdir": "linux-64"}"#,
        );
        let parsed = read_conda_prefix(dir.path()).unwrap();
        assert_eq!(parsed.value.channels, ["defaults"]);
        assert_eq!(parsed.warnings.len(), 1);
        assert!(
            parsed.warnings[0].contains("has no `python` conda package"),
            "{:?}",
            parsed.warnings
        );
    }

    #[test]
    fn bad_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "conda-meta/zlib-1.2.13-0.json",
            r#"{"name": "zlib"}"#,
        );
        let error = read_conda_prefix(dir.path()).unwrap_err().to_string();
        let error = error
            .replace(&dir.path().display().to_string(), "PREFIX")
            .replace('\\', "/");
        insta::assert_snapshot!(error, @"Invalid `PREFIX/conda-meta/zlib-1.2.13-0.json` at line 1, column 16: not a conda package record: missing field `version`");
    }

    #[test]
    fn missing_conda_meta_and_missing_prefix_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_conda_prefix(dir.path()).unwrap_err().to_string();
        let error = error.replace(&dir.path().display().to_string(), "PREFIX");
        insta::assert_snapshot!(error, @"Invalid `PREFIX`: not a conda environment: it has no `conda-meta` directory");

        let missing = dir.path().join("nope");
        let error = read_conda_prefix(&missing).unwrap_err();
        assert!(
            matches!(&error, SpecError::Read { path, .. } if *path == missing),
            "{error:?}"
        );
    }
}
