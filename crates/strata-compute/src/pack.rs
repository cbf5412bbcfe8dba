//! Packs: a built prefix as one relocatable archive (tar, zstd), named by its lock hash. The archive holds
//! the prefix's files (the interpreter too, for conda environments) and a manifest naming the
//! path it was built at and the text files that contain that path. Materializing it on a node
//! is local work only (unpack, rewrite those files to the new path, publish by rename), under
//! a file lock per lock hash so concurrent jobs materialize it once.
//!
//! Creating files is what materializing costs, so a pack leaves out the prefix's bytecode
//! (`__pycache__`: about half its files; Python writes it on the node at first import, as after
//! `uv pip sync`), and unpacking writes files on every core while one thread decompresses.

use std::io::{BufReader, BufWriter, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::ComputeError;

/// The manifest's name inside a pack (its first entry).
pub const PACK_MANIFEST: &str = "strata-pack.json";
/// Python's bytecode directories, left out of packs.
const BYTECODE_DIR: &str = "__pycache__";
/// How every zstd frame starts.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// Where the prefix's files are inside a pack.
const PREFIX_DIR: &str = "prefix";
/// In a node's cache, the copy of the manifest that marks a complete prefix (written before
/// the rename that publishes it).
const MARKER: &str = ".strata-pack.json";

/// What a pack says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackManifest {
    pub lock_hash: String,
    /// The prefix's path where it was built.
    pub built_at: PathBuf,
    /// The interpreter, relative to the prefix.
    pub python: PathBuf,
    /// Text files (relative) that contain `built_at` and are rewritten when materialized.
    pub rewrite: Vec<PathBuf>,
    pub files: u64,
}

/// A prefix ready on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Materialized {
    pub prefix: PathBuf,
    pub python: PathBuf,
    /// True when an earlier job had already materialized it.
    pub reused: bool,
    pub millis: u128,
}

/// The directory a lock's prefix gets in a cache.
fn key(lock_hash: &str) -> String {
    let hash = lock_hash.rsplit(':').next().unwrap_or(lock_hash);
    hash.chars().take(32).collect()
}

/// Writes the pack of the prefix at `prefix` (built for `lock_hash`) to `out`.
pub fn write_pack(
    prefix: &Path,
    python: &Path,
    lock_hash: &str,
    out: &Path,
) -> Result<PackManifest, ComputeError> {
    let built_at = prefix.to_path_buf();
    let needle = built_at.as_os_str().as_encoded_bytes().to_vec();
    let mut rewrite = Vec::new();
    let mut files = 0u64;
    // Every entry below the prefix, in order, directories before what they hold.
    let mut entries = Vec::new();
    let mut stack = vec![prefix.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut children = Vec::new();
        for entry in fs_err::read_dir(&dir).map_err(ComputeError::io(&dir))? {
            let entry = entry.map_err(ComputeError::io(&dir))?;
            let kind = entry.file_type().map_err(ComputeError::io(&entry.path()))?;
            if kind.is_dir() && entry.file_name() == BYTECODE_DIR {
                continue;
            }
            children.push((entry.path(), kind));
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, kind) in children.into_iter().rev() {
            if kind.is_dir() {
                stack.push(path.clone());
            } else if kind.is_file() {
                files += 1;
                let bytes = fs_err::read(&path).map_err(ComputeError::io(&path))?;
                // Text only: binaries with the path baked in keep it (documented).
                if !bytes.contains(&0) && contains(&bytes, &needle) {
                    rewrite.push(path.strip_prefix(prefix).unwrap_or(&path).to_path_buf());
                }
            }
            entries.push(path);
        }
    }
    rewrite.sort();
    let manifest = PackManifest {
        lock_hash: lock_hash.to_string(),
        built_at,
        python: python
            .strip_prefix(prefix)
            .unwrap_or(Path::new("bin/python"))
            .to_path_buf(),
        rewrite,
        files,
    };
    let file = fs_err::File::create(out).map_err(ComputeError::io(out))?;
    // zstd: several times faster than gzip to unpack, which is what every node does.
    let encoder = zstd::Encoder::new(BufWriter::new(file), 3).map_err(ComputeError::io(out))?;
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, PACK_MANIFEST, json.as_slice())
        .map_err(ComputeError::io(out))?;
    for path in &entries {
        let relative = path.strip_prefix(prefix).unwrap_or(path);
        builder
            .append_path_with_name(path, Path::new(PREFIX_DIR).join(relative))
            .map_err(ComputeError::io(path))?;
    }
    let encoder = builder.into_inner().map_err(ComputeError::io(out))?;
    let mut writer = encoder.finish().map_err(ComputeError::io(out))?;
    writer.flush().map_err(ComputeError::io(out))?;
    Ok(manifest)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut index = 0;
    while index < haystack.len() {
        if haystack[index..].starts_with(needle) {
            out.extend_from_slice(with);
            index += needle.len();
        } else {
            out.push(haystack[index]);
            index += 1;
        }
    }
    out
}

/// The prefix of `lock_hash` in `cache`, materialized from `pack` unless an earlier job did.
/// Needs no network: the pack has every file.
pub fn materialize_pack(
    pack: &Path,
    lock_hash: &str,
    cache: &Path,
) -> Result<Materialized, ComputeError> {
    let started = Instant::now();
    let envs = cache.join("envs");
    let locks = envs.join(".locks");
    fs_err::create_dir_all(&locks).map_err(ComputeError::io(&locks))?;
    let key = key(lock_hash);
    let target = envs.join(&key);
    let lock_path = locks.join(format!("{key}.lock"));
    let guard = fs_err::File::create(&lock_path).map_err(ComputeError::io(&lock_path))?;
    guard.file().lock().map_err(ComputeError::io(&lock_path))?;
    let manifest_path = target.join(MARKER);
    if manifest_path.is_file() {
        let manifest: PackManifest = read_json(&manifest_path)?;
        return Ok(Materialized {
            python: target.join(&manifest.python),
            prefix: target,
            reused: true,
            millis: started.elapsed().as_millis(),
        });
    }
    let staging = envs.join(format!(".tmp-{key}"));
    if staging.exists() {
        fs_err::remove_dir_all(&staging).map_err(ComputeError::io(&staging))?;
    }
    fs_err::create_dir_all(&staging).map_err(ComputeError::io(&staging))?;
    let manifest = unpack(pack, &staging)?;
    if manifest.lock_hash != lock_hash {
        let _ = fs_err::remove_dir_all(&staging);
        return Err(ComputeError::InvalidPack {
            path: pack.to_path_buf(),
            reason: format!(
                "it holds lock `{}`, the job asked for `{lock_hash}`",
                manifest.lock_hash
            ),
        });
    }
    let old = manifest.built_at.as_os_str().as_encoded_bytes().to_vec();
    let new = target.as_os_str().as_encoded_bytes().to_vec();
    for relative in &manifest.rewrite {
        let path = staging.join(relative);
        let bytes = fs_err::read(&path).map_err(ComputeError::io(&path))?;
        let permissions = fs_err::metadata(&path)
            .map_err(ComputeError::io(&path))?
            .permissions();
        fs_err::write(&path, replace(&bytes, &old, &new)).map_err(ComputeError::io(&path))?;
        fs_err::set_permissions(&path, permissions).map_err(ComputeError::io(&path))?;
    }
    let python = staging.join(&manifest.python);
    if !python.exists() {
        let base = fs_err::read_link(&python).unwrap_or_else(|_| python.clone());
        let _ = fs_err::remove_dir_all(&staging);
        return Err(ComputeError::NodeLacksInterpreter {
            python: target.join(&manifest.python),
            base,
        });
    }
    let manifest_copy = staging.join(MARKER);
    fs_err::write(
        &manifest_copy,
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )
    .map_err(ComputeError::io(&manifest_copy))?;
    if target.exists() {
        fs_err::remove_dir_all(&target).map_err(ComputeError::io(&target))?;
    }
    fs_err::rename(&staging, &target).map_err(ComputeError::io(&target))?;
    Ok(Materialized {
        python: target.join(&manifest.python),
        prefix: target,
        reused: false,
        millis: started.elapsed().as_millis(),
    })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ComputeError> {
    let text = fs_err::read(path).map_err(ComputeError::io(path))?;
    serde_json::from_slice(&text).map_err(|e| ComputeError::InvalidPack {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Unpacks the prefix into `into`; returns the manifest (the first entry). One thread reads
/// and decompresses; files are written by a writer per core.
fn unpack(pack: &Path, into: &Path) -> Result<PackManifest, ComputeError> {
    let invalid = |reason: String| ComputeError::InvalidPack {
        path: pack.to_path_buf(),
        reason,
    };
    let mut file = fs_err::File::open(pack).map_err(ComputeError::io(pack))?;
    let mut magic = [0u8; 4];
    let read = file.read(&mut magic).map_err(ComputeError::io(pack))?;
    if read < 4 || magic != ZSTD_MAGIC {
        return Err(invalid(
            "it is not a zstd-compressed tar (a truncated copy, or another format)".to_string(),
        ));
    }
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(ComputeError::io(pack))?;
    let decoder =
        zstd::Decoder::with_buffer(BufReader::new(file)).map_err(ComputeError::io(pack))?;
    let mut archive = tar::Archive::new(decoder);
    let writers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let (sender, receiver) = std::sync::mpsc::sync_channel::<PendingFile>(256);
    let receiver = std::sync::Mutex::new(receiver);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| scope.spawn(|| write_files(&receiver)))
            .collect();
        let read = read_entries(&mut archive, pack, into, &sender);
        drop(sender);
        let mut written = Ok(());
        for handle in handles {
            let result = handle.join().unwrap_or_else(|_| {
                Err(ComputeError::Io {
                    path: into.to_path_buf(),
                    source: std::io::Error::other("a writer thread panicked"),
                })
            });
            if written.is_ok() {
                written = result;
            }
        }
        // A reading error explains a writer that stopped early, not the other way round.
        let manifest = read?;
        written?;
        manifest.ok_or_else(|| invalid(format!("it has no `{PACK_MANIFEST}`")))
    })
}

/// A file of the pack, read, for a writer to create.
struct PendingFile {
    path: PathBuf,
    mode: u32,
    bytes: Vec<u8>,
}

fn write_files(
    receiver: &std::sync::Mutex<std::sync::mpsc::Receiver<PendingFile>>,
) -> Result<(), ComputeError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    loop {
        let next = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return Ok(()),
        };
        let Ok(file) = next else {
            return Ok(());
        };
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file.mode)
            .open(&file.path)
            .map_err(ComputeError::io(&file.path))?;
        out.write_all(&file.bytes)
            .map_err(ComputeError::io(&file.path))?;
    }
}

/// Reads every entry: the manifest kept, directories and symbolic links made here, files
/// handed to the writers. Paths are checked as they are read: only plain components, and
/// never below a symbolic link of the pack (which could point anywhere).
fn read_entries<R: std::io::Read>(
    archive: &mut tar::Archive<R>,
    pack: &Path,
    into: &Path,
    files: &std::sync::mpsc::SyncSender<PendingFile>,
) -> Result<Option<PackManifest>, ComputeError> {
    let invalid = |reason: String| ComputeError::InvalidPack {
        path: pack.to_path_buf(),
        reason,
    };
    let mut manifest: Option<PackManifest> = None;
    let mut links: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let mut made: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    made.insert(into.to_path_buf());
    for entry in archive.entries().map_err(ComputeError::io(pack))? {
        let mut entry = entry.map_err(ComputeError::io(pack))?;
        let path = entry.path().map_err(ComputeError::io(pack))?.into_owned();
        if path == Path::new(PACK_MANIFEST) {
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(ComputeError::io(pack))?;
            manifest = Some(serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?);
            continue;
        }
        let Ok(relative) = path.strip_prefix(PREFIX_DIR) else {
            return Err(invalid(format!("unexpected entry `{}`", path.display())));
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        let plain = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        let below_link = relative.ancestors().skip(1).any(|a| links.contains(a));
        if !plain || below_link {
            return Err(invalid(format!(
                "entry `{}` escapes the prefix",
                path.display()
            )));
        }
        let target = into.join(relative);
        let parent = target.parent().unwrap_or(into).to_path_buf();
        if !made.contains(&parent) {
            fs_err::create_dir_all(&parent).map_err(ComputeError::io(&parent))?;
            made.insert(parent);
        }
        let mode = entry.header().mode().map_err(ComputeError::io(pack))? & 0o7777;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                if made.insert(target.clone()) {
                    fs_err::create_dir_all(&target).map_err(ComputeError::io(&target))?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
                entry
                    .read_to_end(&mut bytes)
                    .map_err(ComputeError::io(pack))?;
                let pending = PendingFile {
                    path: target,
                    mode,
                    bytes,
                };
                // The writers stop only on an error, which they return.
                if files.send(pending).is_err() {
                    return Ok(manifest);
                }
            }
            tar::EntryType::Symlink => {
                let Some(link) = entry.link_name().map_err(ComputeError::io(pack))? else {
                    return Err(invalid(format!("link `{}` has no target", path.display())));
                };
                std::os::unix::fs::symlink(&link, &target).map_err(ComputeError::io(&target))?;
                links.insert(relative.to_path_buf());
            }
            other => {
                return Err(invalid(format!(
                    "entry `{}` is a {other:?}, which packs do not hold",
                    path.display()
                )));
            }
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_materializes_at_a_new_path_once() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("built/envs/abc");
        fs_err::create_dir_all(prefix.join("bin")).unwrap();
        let python = prefix.join("bin/python");
        fs_err::write(&python, "#!/bin/sh\necho python\n").unwrap();
        let script = prefix.join("bin/tool");
        fs_err::write(&script, format!("#!{}/bin/python\nrun\n", prefix.display())).unwrap();
        std::os::unix::fs::symlink("python", prefix.join("bin/python3")).unwrap();
        let binary = prefix.join("lib.so");
        fs_err::write(
            &binary,
            [b"\0".as_slice(), prefix.as_os_str().as_encoded_bytes()].concat(),
        )
        .unwrap();
        let pack = dir.path().join("pack.tar.zst");
        let manifest = write_pack(&prefix, &python, "sha256:abcdef", &pack).unwrap();
        assert_eq!(manifest.rewrite, [PathBuf::from("bin/tool")]);
        assert_eq!(manifest.files, 3);

        let cache = dir.path().join("node");
        let first = materialize_pack(&pack, "sha256:abcdef", &cache).unwrap();
        assert!(!first.reused);
        assert_eq!(first.prefix, cache.join("envs/abcdef"));
        let tool = fs_err::read_to_string(first.prefix.join("bin/tool")).unwrap();
        assert_eq!(
            tool,
            format!("#!{}/bin/python\nrun\n", first.prefix.display())
        );
        assert_eq!(
            fs_err::read_link(first.prefix.join("bin/python3")).unwrap(),
            PathBuf::from("python")
        );
        let second = materialize_pack(&pack, "sha256:abcdef", &cache).unwrap();
        assert!(second.reused);
        assert_eq!(second.python, first.python);
        assert!(matches!(
            materialize_pack(&pack, "sha256:other", &dir.path().join("node2")),
            Err(ComputeError::InvalidPack { .. })
        ));
        let truncated = dir.path().join("truncated.tar.zst");
        fs_err::write(&truncated, b"\x1f\x8b").unwrap();
        let error = materialize_pack(&truncated, "sha256:abcdef", &dir.path().join("node3"));
        assert!(
            matches!(error, Err(ComputeError::InvalidPack { .. })),
            "{error:?}"
        );
    }

    #[test]
    fn a_pack_leaves_bytecode_out_and_keeps_modes_and_nested_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("p");
        let package = prefix.join("lib/python3.11/site-packages/pkg");
        fs_err::create_dir_all(package.join("__pycache__")).unwrap();
        fs_err::create_dir_all(package.join("sub/deeper")).unwrap();
        fs_err::write(package.join("__init__.py"), "x = 1\n").unwrap();
        fs_err::write(
            package.join("__pycache__/__init__.cpython-311.pyc"),
            b"\0pyc",
        )
        .unwrap();
        fs_err::write(package.join("sub/deeper/data.bin"), vec![7u8; 100_000]).unwrap();
        fs_err::create_dir_all(prefix.join("bin")).unwrap();
        let python = prefix.join("bin/python");
        fs_err::write(&python, "#!/bin/sh\n").unwrap();
        fs_err::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        let pack = dir.path().join("pack.tar.zst");
        let manifest = write_pack(&prefix, &python, "h", &pack).unwrap();
        assert_eq!(manifest.files, 3, "bytecode is not packed");

        let node = materialize_pack(&pack, "h", &dir.path().join("node")).unwrap();
        let unpacked = node.prefix.join("lib/python3.11/site-packages/pkg");
        assert!(!unpacked.join("__pycache__").exists());
        assert_eq!(
            fs_err::read_to_string(unpacked.join("__init__.py")).unwrap(),
            "x = 1\n"
        );
        assert_eq!(
            fs_err::read(unpacked.join("sub/deeper/data.bin")).unwrap(),
            vec![7u8; 100_000]
        );
        let mode = fs_err::metadata(&node.python).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{mode:o}");
    }

    #[test]
    fn a_pack_whose_interpreter_is_outside_it_fails_clearly_where_that_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("p");
        fs_err::create_dir_all(prefix.join("bin")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/python3.99", prefix.join("bin/python")).unwrap();
        let pack = dir.path().join("pack.tar.zst");
        write_pack(&prefix, &prefix.join("bin/python"), "h", &pack).unwrap();
        let error = materialize_pack(&pack, "h", &dir.path().join("node")).unwrap_err();
        assert!(
            matches!(error, ComputeError::NodeLacksInterpreter { .. }),
            "{error}"
        );
        assert!(!dir.path().join("node/envs/h").exists());
    }
}
