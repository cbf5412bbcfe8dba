//! Packs: a built prefix as one relocatable archive (tar, zstd), named by its lock hash. The archive holds
//! the prefix's files (the interpreter too, for conda environments) and a manifest naming the
//! path it was built at and the text files that contain that path. Materializing it on a node
//! is local work only (unpack, rewrite those files to the new path, publish by rename), under
//! a file lock per lock hash so concurrent jobs materialize it once.

use std::io::{BufReader, BufWriter, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::ComputeError;

/// The manifest's name inside a pack (its first entry).
pub const PACK_MANIFEST: &str = "strata-pack.json";
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
    let mut stack = vec![prefix.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).map_err(ComputeError::io(&dir))? {
            let entry = entry.map_err(ComputeError::io(&dir))?;
            let kind = entry.file_type().map_err(ComputeError::io(&entry.path()))?;
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                files += 1;
                let bytes = fs_err::read(&path).map_err(ComputeError::io(&path))?;
                // Text only: binaries with the path baked in keep it (documented).
                if !bytes.contains(&0) && contains(&bytes, &needle) {
                    rewrite.push(path.strip_prefix(prefix).unwrap_or(&path).to_path_buf());
                }
            }
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
    builder
        .append_dir_all(PREFIX_DIR, prefix)
        .map_err(ComputeError::io(prefix))?;
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

/// Unpacks the prefix into `into`; returns the manifest (the first entry).
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
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    let mut manifest: Option<PackManifest> = None;
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
        // `unpack_in` refuses entries that would land outside `into`.
        if !entry.unpack_in(into).map_err(ComputeError::io(into))? {
            return Err(invalid(format!(
                "entry `{}` escapes the prefix",
                path.display()
            )));
        }
    }
    // Entries were unpacked under `into/prefix/`: lift them one level.
    let inner = into.join(PREFIX_DIR);
    if inner.is_dir() {
        for entry in fs_err::read_dir(&inner).map_err(ComputeError::io(&inner))? {
            let entry = entry.map_err(ComputeError::io(&inner))?;
            let to = into.join(entry.file_name());
            fs_err::rename(entry.path(), &to).map_err(ComputeError::io(&to))?;
        }
        fs_err::remove_dir(&inner).map_err(ComputeError::io(&inner))?;
    }
    manifest.ok_or_else(|| invalid(format!("it has no `{PACK_MANIFEST}`")))
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
