//! OSV advisory records (<https://ossf.github.io/osv-schema/>) from a directory (the layout of
//! the PyPA advisory database: `vulns/<package>/<id>.yaml`, or any tree of `.json`/`.yaml`
//! files) or a zip archive (what osv.dev serves per ecosystem, `PyPI/all.zip`), indexed by
//! normalised package name. Only PyPI entries are kept: that is the ecosystem locks are
//! checked against; withdrawn records are counted and skipped.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use pep508_rs::pep440_rs::Version;

use crate::error::InventoryError;

mod advisory;
mod cache;
mod online;
mod raw;

pub use advisory::Advisory;
pub(crate) use advisory::lookup_key;
use advisory::{Affected, Event, Listed};
use raw::{Parsed, RawRecord};

pub use online::{fetch_advisories, is_online_source};

/// Every PyPI advisory of a source, by package.
#[derive(Debug, Default)]
pub struct AdvisoryDatabase {
    advisories: Vec<Advisory>,
    by_package: HashMap<String, Vec<usize>>,
    /// Records read (withdrawn ones included).
    pub records: usize,
    /// Records skipped because they were withdrawn.
    pub withdrawn: usize,
}

impl AdvisoryDatabase {
    /// Reads a directory tree of OSV `.json`/`.yaml` records or a zip archive of them.
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        let io = |source| InventoryError::AdvisoryIo {
            path: path.to_path_buf(),
            source,
        };
        let metadata = fs_err::metadata(path).map_err(io)?;
        if metadata.is_dir() {
            let mut files = Vec::new();
            read_tree(path, &mut files)?;
            Self::parse_files(files)
        } else if path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("zip"))
        {
            Self::from_files(read_zip(path)?)
        } else {
            Err(InventoryError::NotAnAdvisorySource {
                path: path.to_path_buf(),
            })
        }
    }

    /// Parses `(name, content)` records; names ending in `.json` are JSON, others YAML.
    pub fn from_files(files: Vec<(String, Vec<u8>)>) -> Result<Self, InventoryError> {
        Self::parse_files(
            files
                .into_iter()
                .map(|(name, content)| RecordFile::Read(name, content))
                .collect(),
        )
    }

    fn parse_files(mut files: Vec<RecordFile>) -> Result<Self, InventoryError> {
        files.sort_by(|a, b| a.name().cmp(b.name()));
        let threads = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .clamp(1, 8);
        let chunk = files.len().div_ceil(threads).max(1);
        // Converting (version parsing) is about as costly as parsing: both run in the threads.
        let parsed: Vec<Result<Vec<Parsed>, InventoryError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = files
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|file| file.parse().map(Parsed::from))
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(InventoryError::InvalidAdvisory {
                            record: "?".to_string(),
                            reason: "the parser panicked".to_string(),
                        })
                    })
                })
                .collect()
        });
        let mut database = Self::default();
        for part in parsed {
            for record in part? {
                match record {
                    Parsed::Skipped => {}
                    Parsed::Withdrawn => {
                        database.records += 1;
                        database.withdrawn += 1;
                    }
                    Parsed::Advisory(advisory) => {
                        database.records += 1;
                        if let Some(advisory) = advisory {
                            database.insert(advisory);
                        }
                    }
                }
            }
        }
        Ok(database)
    }

    fn insert(&mut self, advisory: Advisory) {
        let index = self.advisories.len();
        let mut packages: Vec<&str> = advisory
            .affected
            .iter()
            .map(|a| a.package.as_str())
            .collect();
        packages.sort_unstable();
        packages.dedup();
        for package in packages {
            self.by_package
                .entry(package.to_string())
                .or_default()
                .push(index);
        }
        self.advisories.push(advisory);
    }

    /// The advisories naming `package` (normalised), in record-name order.
    pub fn for_package(&self, package: &str) -> impl Iterator<Item = &Advisory> {
        self.by_package
            .get(package)
            .into_iter()
            .flatten()
            .map(|index| &self.advisories[*index])
    }

    /// [`AdvisoryDatabase::for_package`] with each advisory's index, for
    /// [`AdvisoryDatabase::advisory`].
    pub(crate) fn indexed_for_package(
        &self,
        package: &str,
    ) -> impl Iterator<Item = (usize, &Advisory)> {
        self.by_package
            .get(package)
            .into_iter()
            .flatten()
            .map(|index| (*index, &self.advisories[*index]))
    }

    pub(crate) fn advisory(&self, index: usize) -> &Advisory {
        &self.advisories[index]
    }

    /// Whether any advisory affects `package` (normalised) at `version`.
    pub fn any_affects(&self, package: &str, version: &Version) -> bool {
        let key = lookup_key(version);
        self.for_package(package)
            .any(|advisory| advisory.affects_keyed(package, version, &key, &key))
    }

    /// How many (not withdrawn) PyPI advisories it holds.
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }
}

fn is_record(name: &str) -> bool {
    [".json", ".yaml", ".yml"]
        .iter()
        .any(|extension| name.ends_with(extension))
}

/// A record file to parse: read already (from an archive or a caller), or a path the
/// parsing threads read themselves, so that reading a cold directory tree overlaps parsing.
enum RecordFile {
    Read(String, Vec<u8>),
    OnDisk(String, PathBuf),
}

impl RecordFile {
    fn name(&self) -> &str {
        match self {
            Self::Read(name, _) | Self::OnDisk(name, _) => name,
        }
    }

    fn parse(&self) -> Result<Option<RawRecord>, InventoryError> {
        match self {
            Self::Read(name, content) => parse_record(name, content),
            Self::OnDisk(name, path) => {
                let content = fs_err::read(path).map_err(|source| InventoryError::AdvisoryIo {
                    path: path.clone(),
                    source,
                })?;
                parse_record(name, &content)
            }
        }
    }
}

/// `Ok(None)` for files that are not records (JSON or YAML without an `id`).
fn parse_record(name: &str, content: &[u8]) -> Result<Option<RawRecord>, InventoryError> {
    let invalid = |reason: String| InventoryError::InvalidAdvisory {
        record: name.to_string(),
        reason,
    };
    let value: Result<RawRecord, String> = if name.ends_with(".json") {
        serde_json::from_slice(content).map_err(|error| error.to_string())
    } else {
        serde_yaml_ng::from_slice(content).map_err(|error| error.to_string())
    };
    value.map(Some).map_err(invalid)
}

fn read_tree(dir: &Path, files: &mut Vec<RecordFile>) -> Result<(), InventoryError> {
    let io = |path: &Path| {
        let path: PathBuf = path.to_path_buf();
        move |source| InventoryError::AdvisoryIo { path, source }
    };
    for entry in fs_err::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io(&path))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if file_type.is_dir() {
            read_tree(&path, files)?;
        } else if is_record(&name) {
            files.push(RecordFile::OnDisk(path.display().to_string(), path));
        }
    }
    Ok(())
}

fn read_zip(path: &Path) -> Result<Vec<(String, Vec<u8>)>, InventoryError> {
    let archive_error = |source| InventoryError::AdvisoryArchive {
        path: path.to_path_buf(),
        source,
    };
    let file = fs_err::File::open(path).map_err(|source| InventoryError::AdvisoryIo {
        path: path.to_path_buf(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(archive_error)?;
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(archive_error)?;
        let name = entry.name().map_err(archive_error)?.into_owned();
        if !entry.is_file() || !is_record(&name) {
            continue;
        }
        let mut content = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut content)
            .map_err(|source| InventoryError::AdvisoryIo {
                path: path.join(&name),
                source,
            })?;
        files.push((name, content));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    use strata_spec::normalize_name;

    fn v(text: &str) -> Version {
        Version::from_str(text).unwrap()
    }

    fn record(events: &str) -> AdvisoryDatabase {
        let yaml = format!(
            "id: TEST-1\naffected:\n- package: {{name: Some_Pkg, ecosystem: PyPI}}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n{events}"
        );
        AdvisoryDatabase::from_files(vec![("TEST-1.yaml".to_string(), yaml.into_bytes())]).unwrap()
    }

    fn affected(database: &AdvisoryDatabase, version: &str) -> bool {
        database
            .for_package("some-pkg")
            .any(|advisory| advisory.affects("some-pkg", &v(version), version))
    }

    #[test]
    fn ranges_use_pep_440_not_string_order() {
        let database = record("    - introduced: \"0\"\n    - fixed: \"1.10\"\n");
        assert!(affected(&database, "1.9"), "1.9 < 1.10");
        assert!(!affected(&database, "1.10.0"), "1.10.0 == 1.10");
        assert!(
            affected(&database, "1.10rc1"),
            "a pre-release comes before its release"
        );
        assert!(!affected(&database, "1.10.post1"));
        assert!(
            !affected(&database, "1!0.1"),
            "an epoch sorts above every version without one"
        );
        let database = record(
            "    - introduced: \"2.0\"\n    - last_affected: \"2.3\"\n    - introduced: \"3.0\"\n",
        );
        assert!(!affected(&database, "1.99"));
        assert!(affected(&database, "2.3"));
        assert!(!affected(&database, "2.3.1"));
        assert!(affected(&database, "3.7"));
    }

    #[test]
    fn listed_versions_are_compared_as_pep_440_versions() {
        let yaml = "id: TEST-1\naffected:\n- package: {name: pkg, ecosystem: PyPI}\n  versions: ['2.0', '3.0-rc1', 'not.a.version']\n";
        let database =
            AdvisoryDatabase::from_files(vec![("TEST-1.yaml".to_string(), yaml.into())]).unwrap();
        let listed = |version: &str| {
            let parsed = Version::from_str(version).unwrap_or_else(|_| v("0"));
            database
                .for_package("pkg")
                .any(|advisory| advisory.affects("pkg", &parsed, version))
        };
        for version in [
            "2",
            "2.0",
            "2.0.0",
            "v2.0",
            "3.0rc1",
            "3.0.0c1",
            "not.a.version",
        ] {
            assert!(listed(version), "{version}");
        }
        for version in ["2.0.1", "2.0.post0", "2.0+local", "3.0", "0"] {
            assert!(!listed(version), "{version}");
        }
        assert_eq!(lookup_key(&v("0.0")), "0");
        assert_eq!(lookup_key(&v("1!1.0.0.post1")), "1!1.post1");
    }

    #[test]
    fn listed_keys_are_found_by_binary_search_and_survive_joining() {
        let listed = Listed::new(
            ["1.10", "1.9", "", "1.9", "a\nb", "2"]
                .map(String::from)
                .to_vec(),
        );
        assert_eq!(listed.joined(), "1.10\n1.9\n2");
        let again = Listed::from_joined(listed.joined().to_string());
        for list in [&listed, &again] {
            assert!(["1.10", "1.9", "2"].iter().all(|key| list.contains(key)));
            assert!(
                !["1", "1.1", "", "a", "b", "20"]
                    .iter()
                    .any(|key| list.contains(key))
            );
        }
        assert!(!Listed::from_joined(String::new()).contains(""));
    }

    #[test]
    fn withdrawn_and_other_ecosystems_are_skipped() {
        let files = vec![
            (
                "a.yaml".to_string(),
                b"id: A\nwithdrawn: 2024-01-01T00:00:00Z\naffected:\n- package: {name: x, ecosystem: PyPI}\n  versions: ['1.0']\n".to_vec(),
            ),
            (
                "b.json".to_string(),
                br#"{"id": "B", "affected": [{"package": {"name": "x", "ecosystem": "npm"}, "versions": ["1.0"]}]}"#.to_vec(),
            ),
        ];
        let database = AdvisoryDatabase::from_files(files).unwrap();
        assert_eq!(
            (database.records, database.withdrawn, database.len()),
            (2, 1, 0)
        );
    }

    /// Real records (copied unchanged from the PyPA database) whose ranges string comparison
    /// gets wrong; versions off the records' `versions` lists, so the ranges decide.
    #[test]
    fn real_records_are_evaluated_with_pep_440() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-data/advisories");
        let database = AdvisoryDatabase::load(&root).unwrap();
        assert_eq!(
            database.withdrawn, 2,
            "the withdrawn real and synthetic records"
        );
        let affected = |package: &str, version: &str| {
            database
                .for_package(package)
                .any(|advisory| advisory.affects(package, &v(version), version))
        };
        // Fixed in 0.11.11: `"0.9.99" < "0.11.11"` is false as strings.
        assert!(affected("werkzeug", "0.9.99"));
        assert!(affected("werkzeug", "0.11.10.post1"));
        assert!(!affected("werkzeug", "0.11.11"));
        assert!(!affected("werkzeug", "0.100"));
        // `last_affected: 1.11.0`: 1.11.0 itself is affected, 1.11.0.post1 is not.
        assert!(affected("py", "1.9.99"));
        assert!(affected("py", "1.11"));
        assert!(!affected("py", "1.11.0.post1"));
        // Introduced at the pre-release 1.1.0b1.
        assert!(!affected("borgbackup", "1.1.0a9"));
        assert!(affected("borgbackup", "1.1.0rc9"));
        assert!(affected("borgbackup", "1.1.2.post3"));
        assert!(!affected("borgbackup", "1.1.3"));
        // Fixed in the post-release 1.5.0.post0 (the same as 1.5.0.post0 spelled `1.5.0-0`).
        assert!(affected("label-studio", "1.5.0"));
        assert!(!affected("label-studio", "1.5.0-0"));
        // Names are normalised: `Label_Studio` is `label-studio`.
        assert!(
            database
                .for_package(&normalize_name("Label_Studio"))
                .next()
                .is_some()
        );
        // Withdrawn records affect nothing.
        assert!(database.for_package("redis").next().is_none());
    }

    #[test]
    fn the_parsed_copy_reads_the_same_and_follows_changes() {
        let source = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let write = |events: &str| {
            fs_err::write(
                source.path().join("TEST-1.yaml"),
                format!(
                    "id: TEST-1\naliases: [CVE-0-1]\naffected:\n- package: {{name: pkg, ecosystem: PyPI}}\n  versions: ['0.5']\n  ranges:\n  - type: ECOSYSTEM\n    events:\n{events}"
                ),
            )
            .unwrap();
        };
        write("    - introduced: \"0\"\n    - fixed: \"1.10\"\n");
        let check = |version: &str| {
            let database = AdvisoryDatabase::load_cached(source.path(), cache.path()).unwrap();
            database
                .for_package("pkg")
                .any(|advisory| advisory.affects("pkg", &v(version), version))
        };
        assert!(check("1.9"), "parsed from the source");
        assert_eq!(fs_err::read_dir(cache.path()).unwrap().count(), 1);
        assert!(check("1.9"), "read from the parsed copy");
        assert!(check("0.5.0"), "the versions list survives the copy");
        assert!(!check("1.10"));
        // A changed record (another size) is a new entry.
        write("    - introduced: \"0\"\n    - fixed: \"1.9.5\"\n");
        assert!(!check("1.9.7"));
        assert_eq!(
            fs_err::read_dir(cache.path()).unwrap().count(),
            1,
            "the old state's entry is removed"
        );
        // An unreadable entry (a crash mid-write elsewhere, an older format) is parsed again
        // and rewritten.
        let entry = fs_err::read_dir(cache.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        fs_err::write(&entry, b"{\"format\": 1, \"records\": []}").unwrap();
        assert!(check("1.9.4"));
        assert!(!check("1.9.7"));
        assert!(fs_err::read(&entry).unwrap().len() > 100, "rewritten");
    }

    /// The parsed copy of the real records answers every question as the records do.
    #[test]
    fn the_parsed_copy_of_real_records_is_the_same_database() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-data/advisories");
        let cache = tempfile::tempdir().unwrap();
        let parsed = AdvisoryDatabase::load(&root).unwrap();
        AdvisoryDatabase::load_cached(&root, cache.path()).unwrap();
        let copied = AdvisoryDatabase::load_cached(&root, cache.path()).unwrap();
        assert_eq!(
            (copied.records, copied.withdrawn, copied.len()),
            (parsed.records, parsed.withdrawn, parsed.len())
        );
        let versions = [
            "0",
            "0.9.99",
            "0.11.10.post1",
            "0.11.11",
            "1.0",
            "1.1.0b1",
            "1.1.2.post3",
            "1.5.0",
            "1.5.0-0",
            "1.11",
            "2.0",
            "3.0.0rc1",
            "99",
        ];
        for package in parsed.by_package.keys() {
            for version in versions {
                let answer = |database: &AdvisoryDatabase| {
                    database
                        .for_package(package)
                        .filter(|advisory| advisory.affects(package, &v(version), version))
                        .map(|advisory| (advisory.id.clone(), advisory.fixed_versions(package)))
                        .collect::<Vec<_>>()
                };
                assert_eq!(answer(&copied), answer(&parsed), "{package} {version}");
            }
        }
    }
}
