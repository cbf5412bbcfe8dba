//! Conda solve and install against a local channel written by `test_channel`.

use std::error::Error;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use strata_build::test_channel::{PREFIX_PLACEHOLDER, sample_packages, write_channel};
use strata_build::{CondaError, CondaInstallReport, CondaSolveRequest, install_conda, solve_conda};
use strata_spec::CondaLockedPackage;
use tempfile::TempDir;

struct Fixture {
    root: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        write_channel(&root.path().join("channel"), &sample_packages()).unwrap();
        Self { root }
    }

    fn channel_dir(&self) -> String {
        self.root
            .path()
            .join("channel")
            .to_str()
            .unwrap()
            .to_string()
    }

    fn channel_url(&self) -> String {
        url::Url::from_directory_path(self.root.path().join("channel"))
            .unwrap()
            .to_string()
    }

    fn cache(&self) -> std::path::PathBuf {
        self.root.path().join("cache")
    }

    fn solve(&self, channel: &str, specs: &[&str]) -> Result<Vec<CondaLockedPackage>, CondaError> {
        let channels = vec![channel.to_string()];
        let specs: Vec<String> = specs.iter().map(|spec| spec.to_string()).collect();
        solve_conda(&CondaSolveRequest {
            channels: &channels,
            specs: &specs,
            platform: "linux-64",
            cache_dir: &self.cache(),
        })
    }

    fn install(
        &self,
        prefix: &Path,
        packages: &[CondaLockedPackage],
    ) -> Result<CondaInstallReport, CondaError> {
        install_conda(prefix, packages, "linux-64", &self.cache())
    }
}

fn versions(packages: &[CondaLockedPackage]) -> Vec<(String, String)> {
    packages
        .iter()
        .map(|package| (package.name.clone(), package.version.clone()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(name, version)| (name.to_string(), version.to_string()))
        .collect()
}

/// The error and its causes, one per line.
fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str("\n  ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[test]
fn solves_from_a_file_url() {
    let fixture = Fixture::new();
    let url = fixture.channel_url();
    let packages = fixture.solve(&url, &["mat-app"]).unwrap();
    assert_eq!(
        versions(&packages),
        pairs(&[
            ("mat-app", "1.2.3"),
            ("mat-hello", "0.1.0"),
            ("mat-lib", "2.0.0")
        ])
    );
    let app = &packages[0];
    assert_eq!(app.build, "h0_1");
    assert_eq!(app.build_number, Some(1));
    assert_eq!(app.subdir, "linux-64");
    assert_eq!(app.channel, url);
    assert_eq!(app.url, format!("{url}linux-64/mat-app-1.2.3-h0_1.conda"));
    assert_eq!(app.noarch, None);
    assert_eq!(app.sha256.as_ref().map(String::len), Some(64));
    assert_eq!(app.md5.as_ref().map(String::len), Some(32));
    assert_eq!(app.depends, ["mat-hello", "mat-lib >=1.5,<3"]);
    let lib = &packages[2];
    assert_eq!(lib.subdir, "noarch");
    assert_eq!(lib.noarch.as_deref(), Some("generic"));
}

#[test]
fn solves_from_a_directory_path() {
    let fixture = Fixture::new();
    let dir = fixture.channel_dir();
    let packages = fixture.solve(&dir, &["mat-app"]).unwrap();
    assert_eq!(
        versions(&packages),
        pairs(&[
            ("mat-app", "1.2.3"),
            ("mat-hello", "0.1.0"),
            ("mat-lib", "2.0.0")
        ])
    );
    assert!(packages.iter().all(|package| package.channel == dir));
    assert!(packages[0].url.starts_with("file:///"));
}

#[test]
fn an_upper_bound_selects_the_older_version() {
    let fixture = Fixture::new();
    let packages = fixture
        .solve(&fixture.channel_dir(), &["mat-lib<2"])
        .unwrap();
    assert_eq!(versions(&packages), pairs(&[("mat-lib", "1.0.0")]));
}

#[test]
fn installs_links_from_the_cache_and_reinstalls_as_a_no_op() {
    let fixture = Fixture::new();
    let packages = fixture.solve(&fixture.channel_dir(), &["mat-app"]).unwrap();
    let prefix = fixture.root.path().join("env");

    let report = fixture.install(&prefix, &packages).unwrap();
    assert_eq!(
        report,
        CondaInstallReport {
            installed: 3,
            removed: 0,
            unchanged: 0
        }
    );
    assert_eq!(
        fs::read_to_string(prefix.join("share/mat-lib/VERSION")).unwrap(),
        "2.0.0\n"
    );
    assert!(prefix.join("bin/mat-hello").is_file());
    for record in [
        "mat-app-1.2.3-h0_1.json",
        "mat-hello-0.1.0-h0_0.json",
        "mat-lib-2.0.0-h0_0.json",
    ] {
        assert!(prefix.join("conda-meta").join(record).is_file(), "{record}");
    }
    let config = fs::read_to_string(prefix.join("etc/mat-app.conf")).unwrap();
    assert_eq!(config, format!("prefix={}\n", prefix.display()));
    assert!(!config.contains(PREFIX_PLACEHOLDER));
    let data = fs::metadata(prefix.join("share/mat-app/data.bin")).unwrap();
    assert!(
        data.nlink() >= 2,
        "not hardlinked: {} link(s)",
        data.nlink()
    );
    let package_cache = fixture.cache().join("conda-pkgs");
    assert!(package_cache.join("mat-app-1.2.3-h0_1").is_dir());

    let again = fixture.install(&prefix, &packages).unwrap();
    assert_eq!(
        again,
        CondaInstallReport {
            installed: 0,
            removed: 0,
            unchanged: 3
        }
    );

    // Down to mat-lib 1.0.0 alone: one changed, two removed.
    let older = fixture
        .solve(&fixture.channel_dir(), &["mat-lib<2"])
        .unwrap();
    let report = fixture.install(&prefix, &older).unwrap();
    assert_eq!(
        report,
        CondaInstallReport {
            installed: 1,
            removed: 2,
            unchanged: 0
        }
    );
    assert_eq!(
        fs::read_to_string(prefix.join("share/mat-lib/VERSION")).unwrap(),
        "1.0.0\n"
    );
    assert!(!prefix.join("bin/mat-hello").exists());
    assert!(!prefix.join("conda-meta/mat-app-1.2.3-h0_1.json").exists());
}

#[test]
fn an_unsatisfiable_spec_is_explained() {
    let fixture = Fixture::new();
    let err = fixture
        .solve(&fixture.channel_dir(), &["mat-lib>=9"])
        .unwrap_err();
    let CondaError::Unsatisfiable { explanation, .. } = &err else {
        panic!("expected Unsatisfiable, got {}", chain(&err));
    };
    assert!(explanation.contains("mat-lib"), "{explanation}");
    let message = err.to_string();
    assert!(message.starts_with("Cannot satisfy the conda specs `mat-lib>=9`:\n"));
    assert!(message.contains(explanation.as_str()));
}

#[test]
fn an_unreachable_channel_is_named() {
    let fixture = Fixture::new();
    let err = fixture
        .solve("http://127.0.0.1:9/nochannel", &["mat-app"])
        .unwrap_err();
    let CondaError::Channel { url, .. } = &err else {
        panic!("expected Channel, got {}", chain(&err));
    };
    assert_eq!(url, "http://127.0.0.1:9/nochannel");
    assert!(
        err.to_string().contains("`http://127.0.0.1:9/nochannel`"),
        "{}",
        chain(&err)
    );
}

#[test]
fn a_corrupted_package_fails_verification() {
    let fixture = Fixture::new();
    let packages = fixture.solve(&fixture.channel_dir(), &["mat-lib"]).unwrap();
    assert_eq!(versions(&packages), pairs(&[("mat-lib", "2.0.0")]));
    // A valid package, but not the one the lock's sha256 names.
    let noarch = fixture.root.path().join("channel/noarch");
    fs::copy(
        noarch.join("mat-lib-1.0.0-h0_0.conda"),
        noarch.join("mat-lib-2.0.0-h0_0.conda"),
    )
    .unwrap();

    let err = fixture
        .install(&fixture.root.path().join("env"), &packages)
        .unwrap_err();
    let CondaError::Download { package, url, .. } = &err else {
        panic!("expected Download, got {}", chain(&err));
    };
    assert_eq!(package, "mat-lib-2.0.0-h0_0.conda");
    assert_eq!(url, &packages[0].url);
    let text = chain(&err);
    assert!(text.contains(&packages[0].url), "{text}");
    assert!(text.to_lowercase().contains("hash"), "{text}");
}
