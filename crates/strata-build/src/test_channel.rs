//! A local conda channel for tests: `.conda` packages plus the `repodata.json` of each subdir,
//! written without conda or an indexer (a port of `make_test_channel.py`).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rattler_conda_types::compression_level::CompressionLevel;
use rattler_digest::{Md5, Sha256, compute_bytes_digest};
use serde_json::{Map, Value, json};

/// The placeholder a package's text files carry where the install prefix goes.
pub const PREFIX_PLACEHOLDER: &str = "/opt/anaconda1anaconda2anaconda3";

/// The fixed timestamp (ms) of every package, so channels are reproducible.
const TIMESTAMP_MS: u64 = 1_767_225_600_000;

/// One package to write. Its build string is `h0_<build_number>`; files under `bin/` are
/// executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPackage {
    pub name: String,
    pub version: String,
    pub build_number: u64,
    pub depends: Vec<String>,
    /// `noarch: generic` (written to `noarch/`) instead of `linux-64`.
    pub noarch: bool,
    /// (install-relative path, content, whether it contains [`PREFIX_PLACEHOLDER`] as text).
    pub files: Vec<(String, Vec<u8>, bool)>,
}

impl TestPackage {
    /// `h0_<build_number>`.
    pub fn build(&self) -> String {
        format!("h0_{}", self.build_number)
    }

    /// `noarch` or `linux-64`.
    pub fn subdir(&self) -> &'static str {
        if self.noarch { "noarch" } else { "linux-64" }
    }

    /// `NAME-VERSION-BUILD.conda`.
    pub fn file_name(&self) -> String {
        format!("{}-{}-{}.conda", self.name, self.version, self.build())
    }
}

/// mat-lib 1.0.0 and 2.0.0 (noarch), mat-hello 0.1.0 (noarch, needs `mat-lib >=2`) and
/// mat-app 1.2.3 (linux-64, needs `mat-hello` and `mat-lib >=1.5,<3`, with the placeholder in
/// `etc/mat-app.conf`).
pub fn sample_packages() -> Vec<TestPackage> {
    let mut packages: Vec<TestPackage> = ["1.0.0", "2.0.0"]
        .into_iter()
        .map(|version| TestPackage {
            name: "mat-lib".to_string(),
            version: version.to_string(),
            build_number: 0,
            depends: Vec::new(),
            noarch: true,
            files: vec![(
                "share/mat-lib/VERSION".to_string(),
                format!("{version}\n").into_bytes(),
                false,
            )],
        })
        .collect();
    packages.push(TestPackage {
        name: "mat-hello".to_string(),
        version: "0.1.0".to_string(),
        build_number: 0,
        depends: vec!["mat-lib >=2".to_string()],
        noarch: true,
        files: vec![(
            "bin/mat-hello".to_string(),
            b"#!/bin/sh\necho hello from mat-hello\n".to_vec(),
            false,
        )],
    });
    packages.push(TestPackage {
        name: "mat-app".to_string(),
        version: "1.2.3".to_string(),
        build_number: 1,
        depends: vec!["mat-hello".to_string(), "mat-lib >=1.5,<3".to_string()],
        noarch: false,
        files: vec![
            (
                "etc/mat-app.conf".to_string(),
                format!("prefix={PREFIX_PLACEHOLDER}\n").into_bytes(),
                true,
            ),
            (
                "share/mat-app/data.bin".to_string(),
                (0..=255u8).cycle().take(256 * 64).collect(),
                false,
            ),
        ],
    });
    packages
}

/// Writes `packages` as `.conda` files into `dir/noarch/` and `dir/linux-64/` (both always
/// exist) and the `repodata.json` of both subdirs.
pub fn write_channel(dir: &Path, packages: &[TestPackage]) -> io::Result<()> {
    let mut repodata: Vec<(&str, Map<String, Value>)> =
        vec![("noarch", Map::new()), ("linux-64", Map::new())];
    for (subdir, _) in &repodata {
        fs::create_dir_all(dir.join(subdir))?;
    }
    for package in packages {
        let path = dir.join(package.subdir()).join(package.file_name());
        write_package(package, &path)?;
        let bytes = fs::read(&path)?;
        let mut record = Map::new();
        record.insert("name".into(), json!(package.name));
        record.insert("version".into(), json!(package.version));
        record.insert("build".into(), json!(package.build()));
        record.insert("build_number".into(), json!(package.build_number));
        record.insert("depends".into(), json!(package.depends));
        record.insert("subdir".into(), json!(package.subdir()));
        record.insert(
            "sha256".into(),
            json!(hex::encode(compute_bytes_digest::<Sha256>(&bytes))),
        );
        record.insert(
            "md5".into(),
            json!(hex::encode(compute_bytes_digest::<Md5>(&bytes))),
        );
        record.insert("size".into(), json!(bytes.len()));
        record.insert("timestamp".into(), json!(TIMESTAMP_MS));
        if package.noarch {
            record.insert("noarch".into(), json!("generic"));
        }
        let packages = repodata
            .iter_mut()
            .find(|(subdir, _)| *subdir == package.subdir())
            .map(|(_, packages)| packages)
            .expect("subdir is noarch or linux-64");
        packages.insert(package.file_name(), Value::Object(record));
    }
    for (subdir, packages) in repodata {
        let repodata = json!({
            "info": { "subdir": subdir },
            "packages": {},
            "packages.conda": packages,
            "repodata_version": 1,
        });
        let mut text = serde_json::to_string_pretty(&repodata).map_err(io::Error::other)?;
        text.push('\n');
        fs::write(dir.join(subdir).join("repodata.json"), text)?;
    }
    Ok(())
}

/// Stages `info/index.json`, `info/paths.json` and the payload in a temporary directory and
/// packs them into the `.conda` file at `path`.
fn write_package(package: &TestPackage, path: &Path) -> io::Result<()> {
    let stage = tempfile::tempdir()?;
    let mut staged: Vec<PathBuf> = Vec::new();
    let mut entries = Vec::new();
    for (relative, content, has_prefix) in &package.files {
        let file = stage.path().join(relative);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&file, content)?;
        #[cfg(unix)]
        if relative.starts_with("bin/") {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&file, fs::Permissions::from_mode(0o755))?;
        }
        staged.push(file);
        let mut entry = Map::new();
        entry.insert("_path".into(), json!(relative));
        entry.insert("path_type".into(), json!("hardlink"));
        entry.insert(
            "sha256".into(),
            json!(hex::encode(compute_bytes_digest::<Sha256>(content))),
        );
        entry.insert("size_in_bytes".into(), json!(content.len()));
        if *has_prefix {
            entry.insert("prefix_placeholder".into(), json!(PREFIX_PLACEHOLDER));
            entry.insert("file_mode".into(), json!("text"));
        }
        entries.push((relative.clone(), Value::Object(entry)));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let mut index = Map::new();
    index.insert("name".into(), json!(package.name));
    index.insert("version".into(), json!(package.version));
    index.insert("build".into(), json!(package.build()));
    index.insert("build_number".into(), json!(package.build_number));
    index.insert("depends".into(), json!(package.depends));
    index.insert("subdir".into(), json!(package.subdir()));
    index.insert("timestamp".into(), json!(TIMESTAMP_MS));
    index.insert("license".into(), json!("MIT"));
    if package.noarch {
        index.insert("noarch".into(), json!("generic"));
    } else {
        index.insert("arch".into(), json!("x86_64"));
        index.insert("platform".into(), json!("linux"));
    }
    let paths = json!({
        "paths": entries.into_iter().map(|(_, entry)| entry).collect::<Vec<_>>(),
        "paths_version": 1,
    });
    fs::create_dir_all(stage.path().join("info"))?;
    for (name, value) in [("index.json", Value::Object(index)), ("paths.json", paths)] {
        let file = stage.path().join("info").join(name);
        let text = serde_json::to_string_pretty(&value).map_err(io::Error::other)?;
        fs::write(&file, text)?;
        staged.push(file);
    }

    let out_name = format!("{}-{}-{}", package.name, package.version, package.build());
    let mut writer = BufWriter::new(File::create(path)?);
    rattler_package_streaming::write::write_conda_package(
        &mut writer,
        stage.path(),
        &staged,
        CompressionLevel::Default,
        None,
        &out_name,
        None,
        None,
    )?;
    writer.flush()
}
