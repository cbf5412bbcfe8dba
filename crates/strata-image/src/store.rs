use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tempfile::NamedTempFile;

use crate::digest::{HashingWriter, canonical_json, digest_hex, sha256_digest};
use crate::error::ImageError;
use crate::manifest::{
    DOCKER_MANIFEST_LIST_MEDIA_TYPE, Descriptor, INDEX_MEDIA_TYPE, Manifest, REF_NAME_ANNOTATION,
};

/// An OCI image layout directory used as the local image store (`oci-layout`, `index.json`,
/// `blobs/sha256/`). Images are named by the `org.opencontainers.image.ref.name` annotation of
/// their `index.json` entry.
///
/// Blobs are written without the index lock. A process that writes blobs and then tags them
/// holds [`ImageStore::writer`] meanwhile; [`ImageStore::gc`] waits until no writer is active,
/// so it never deletes blobs an image being built is about to refer to.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

/// An image found in a store by its reference.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub reference: String,
    pub manifest_descriptor: Descriptor,
    pub manifest: Manifest,
    pub config: Value,
}

impl StoredImage {
    /// The image's labels (`config.Labels` of its config).
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config["config"]["Labels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl ImageStore {
    /// Opens the layout at `dir`, creating it if missing.
    pub fn open(dir: &Path) -> Result<Self, ImageError> {
        let store = Self {
            dir: dir.to_path_buf(),
        };
        let blobs = store.blobs_dir();
        fs::create_dir_all(&blobs).map_err(ImageError::io(&blobs))?;
        let layout = dir.join("oci-layout");
        if !layout.is_file() || !store.index_path().is_file() {
            // Under the lock so a concurrent first `tag` is never overwritten by an empty index.
            let _lock = store.lock()?;
            if !layout.is_file() {
                write_atomic(
                    &layout,
                    &canonical_json(&json!({"imageLayoutVersion": "1.0.0"})),
                )?;
            }
            if !store.index_path().is_file() {
                store.write_index(
                    json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE}),
                    Vec::new(),
                )?;
            }
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob lives, whether or not it exists. A malformed digest maps to a path that
    /// never exists rather than anywhere outside the store.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        match digest_hex(digest) {
            Ok(hex) => self.blobs_dir().join(hex),
            Err(_) => self.blobs_dir().join(".invalid-digest"),
        }
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        digest_hex(digest).is_ok() && self.blob_path(digest).is_file()
    }

    /// Stores bytes and returns their digest; storing present bytes writes nothing.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, ImageError> {
        let digest = sha256_digest(bytes);
        if !self.has_blob(&digest) {
            self.put_reader(bytes)?;
        }
        Ok(digest)
    }

    /// Copies a file into the store, hashing it on the way; returns its digest and size.
    pub fn put_blob_file(&self, path: &Path) -> Result<(String, u64), ImageError> {
        let file = File::open(path).map_err(ImageError::io(path))?;
        self.put_reader(file)
    }

    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        digest_hex(digest)?;
        fs::read(self.blob_path(digest)).map_err(|source| ImageError::BlobRead {
            digest: digest.to_string(),
            source,
        })
    }

    pub(crate) fn open_blob(&self, digest: &str) -> Result<File, ImageError> {
        digest_hex(digest)?;
        File::open(self.blob_path(digest)).map_err(|source| ImageError::BlobRead {
            digest: digest.to_string(),
            source,
        })
    }

    pub(crate) fn put_reader(&self, mut reader: impl Read) -> Result<(String, u64), ImageError> {
        let tmp = self.blob_temp_file()?;
        let mut writer = HashingWriter::new(BufWriter::new(tmp));
        io::copy(&mut reader, &mut writer).map_err(ImageError::io(&self.blobs_dir()))?;
        let (digest, size) = (writer.digest(), writer.size);
        let tmp = writer
            .inner
            .into_inner()
            .map_err(|e| ImageError::io(&self.blobs_dir())(e.into_error()))?;
        self.persist_blob(tmp, &digest)?;
        Ok((digest, size))
    }

    /// A temporary file beside the blobs, so renaming it into place is atomic. Its name starts
    /// with a dot, which `gc` never touches.
    pub(crate) fn blob_temp_file(&self) -> Result<NamedTempFile, ImageError> {
        let dir = self.blobs_dir();
        tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(Permissions::from_mode(0o644))
            .tempfile_in(&dir)
            .map_err(ImageError::io(&dir))
    }

    pub(crate) fn persist_blob(&self, tmp: NamedTempFile, digest: &str) -> Result<(), ImageError> {
        let target = self.blob_path(digest);
        if target.is_file() {
            return Ok(());
        }
        tmp.as_file()
            .sync_all()
            .map_err(ImageError::io(tmp.path()))?;
        tmp.persist(&target)
            .map_err(|e| ImageError::io(&target)(e.error))?;
        Ok(())
    }

    /// Finds an image by its ref name.
    pub fn lookup(&self, reference: &str) -> Result<Option<StoredImage>, ImageError> {
        let entry = self
            .index_entries()?
            .into_iter()
            .find(|entry| ref_name(entry) == Some(reference));
        entry.map(|entry| self.load(reference, entry)).transpose()
    }

    /// Points `reference` at a manifest, replacing any older entry with that ref.
    pub fn tag(&self, reference: &str, manifest: &Descriptor) -> Result<(), ImageError> {
        let mut descriptor = manifest.clone();
        descriptor
            .annotations
            .insert(REF_NAME_ANNOTATION.to_string(), reference.to_string());
        let entry = serde_json::to_value(&descriptor).map_err(ImageError::json("a descriptor"))?;
        self.update_index(|entries| {
            entries.retain(|e| ref_name(e) != Some(reference));
            entries.push(entry);
        })
    }

    /// Every named image, sorted by reference.
    pub fn list(&self) -> Result<Vec<StoredImage>, ImageError> {
        self.index_entries()?
            .into_iter()
            .filter(|entry| {
                ![INDEX_MEDIA_TYPE, DOCKER_MANIFEST_LIST_MEDIA_TYPE]
                    .contains(&entry["mediaType"].as_str().unwrap_or_default())
            })
            .filter_map(|entry| Some((ref_name(&entry)?.to_string(), entry)))
            .map(|(reference, entry)| self.load(&reference, entry))
            .collect()
    }

    /// Removes the ref and returns whether it existed; its blobs stay until [`ImageStore::gc`].
    pub fn remove(&self, reference: &str) -> Result<bool, ImageError> {
        let mut existed = false;
        self.update_index(|entries| {
            let before = entries.len();
            entries.retain(|e| ref_name(e) != Some(reference));
            existed = entries.len() != before;
        })?;
        Ok(existed)
    }

    /// Deletes the blobs no index entry reaches; returns how many went and the bytes freed.
    pub fn gc(&self) -> Result<(usize, u64), ImageError> {
        let writers = self.writers_file()?;
        writers
            .lock()
            .map_err(ImageError::io(&self.dir.join(".writers")))?;
        let _lock = self.lock()?;
        let mut reachable = HashSet::new();
        for entry in self.index_entries()? {
            self.mark(&entry, &mut reachable);
        }
        let dir = self.blobs_dir();
        let (mut removed, mut freed) = (0, 0);
        for item in fs::read_dir(&dir).map_err(ImageError::io(&dir))? {
            let item = item.map_err(ImageError::io(&dir))?;
            let digest = format!("sha256:{}", item.file_name().to_string_lossy());
            if digest_hex(&digest).is_err() || reachable.contains(&digest) {
                continue;
            }
            let path = item.path();
            let size = item.metadata().map_err(ImageError::io(&path))?.len();
            fs::remove_file(&path).map_err(ImageError::io(&path))?;
            removed += 1;
            freed += size;
        }
        Ok((removed, freed))
    }

    /// Total size of the blobs the image refers to (manifest, config and layers).
    pub fn image_size(&self, image: &StoredImage) -> u64 {
        image.manifest_descriptor.size
            + image.manifest.config.size
            + image.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }

    /// Marks a descriptor and, for manifests and indexes, what they point to. Blobs that are
    /// missing or unreadable reach nothing further.
    fn mark(&self, descriptor: &Value, reachable: &mut HashSet<String>) {
        let Some(digest) = descriptor["digest"].as_str() else {
            return;
        };
        if !reachable.insert(digest.to_string()) {
            return;
        }
        let Ok(bytes) = self.read_blob(digest) else {
            return;
        };
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            return;
        };
        for child in value["manifests"].as_array().into_iter().flatten() {
            self.mark(child, reachable);
        }
        if let Some(config) = value["config"]["digest"].as_str() {
            reachable.insert(config.to_string());
        }
        for layer in value["layers"].as_array().into_iter().flatten() {
            if let Some(digest) = layer["digest"].as_str() {
                reachable.insert(digest.to_string());
            }
        }
    }

    fn load(&self, reference: &str, entry: Value) -> Result<StoredImage, ImageError> {
        let manifest_descriptor: Descriptor =
            serde_json::from_value(entry).map_err(ImageError::json("`index.json`"))?;
        let manifest = self.read_blob(&manifest_descriptor.digest)?;
        let manifest: Manifest = serde_json::from_slice(&manifest).map_err(ImageError::json(
            format!("manifest `{}`", manifest_descriptor.digest),
        ))?;
        let config = self.read_blob(&manifest.config.digest)?;
        let config = serde_json::from_slice(&config).map_err(ImageError::json(format!(
            "config `{}`",
            manifest.config.digest
        )))?;
        Ok(StoredImage {
            reference: reference.to_string(),
            manifest_descriptor,
            manifest,
            config,
        })
    }

    fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs").join("sha256")
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    fn read_index(&self) -> Result<Value, ImageError> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(ImageError::io(&path))?;
        serde_json::from_slice(&bytes).map_err(ImageError::json(format!("`{}`", path.display())))
    }

    /// Entries are kept as JSON values so fields this crate doesn't model (e.g. `platform`
    /// written by other tools) survive a rewrite.
    pub(crate) fn index_entries(&self) -> Result<Vec<Value>, ImageError> {
        Ok(self.read_index()?["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    pub(crate) fn update_index(
        &self,
        change: impl FnOnce(&mut Vec<Value>),
    ) -> Result<(), ImageError> {
        let _lock = self.lock()?;
        let index = self.read_index()?;
        let mut entries = index["manifests"].as_array().cloned().unwrap_or_default();
        change(&mut entries);
        self.write_index(index, entries)
    }

    fn write_index(&self, mut index: Value, mut entries: Vec<Value>) -> Result<(), ImageError> {
        entries.sort_by(|a, b| {
            let key = |e: &Value| {
                (
                    ref_name(e).unwrap_or("").to_string(),
                    e["digest"].to_string(),
                )
            };
            key(a).cmp(&key(b))
        });
        index["manifests"] = Value::Array(entries);
        write_atomic(&self.index_path(), &canonical_json(&index))
    }

    /// Serialises index changes across threads and processes: `flock` locks belong to the
    /// open file description, so each call gets its own.
    /// A shared claim held from writing an image's first blob until it is tagged: `gc` waits
    /// for every claim to be released. Dropping the file releases it.
    pub fn writer(&self) -> Result<File, ImageError> {
        let file = self.writers_file()?;
        file.lock_shared()
            .map_err(ImageError::io(&self.dir.join(".writers")))?;
        Ok(file)
    }

    fn writers_file(&self) -> Result<File, ImageError> {
        let path = self.dir.join(".writers");
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ImageError::io(&path))
    }

    fn lock(&self) -> Result<File, ImageError> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ImageError::io(&path))?;
        file.lock().map_err(ImageError::io(&path))?;
        Ok(file)
    }
}

fn ref_name(entry: &Value) -> Option<&str> {
    entry["annotations"][REF_NAME_ANNOTATION].as_str()
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(ImageError::io(dir))?;
    tmp.write_all(bytes).map_err(ImageError::io(tmp.path()))?;
    tmp.as_file()
        .sync_all()
        .map_err(ImageError::io(tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| ImageError::io(path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::manifest::MANIFEST_MEDIA_TYPE;
    use crate::test_support::{Item, image, layer_from_bytes, raw_tar};

    const CHILD_STORE: &str = "STRATA_IMAGE_TEST_CHILD_STORE";

    fn fake_manifest(store: &ImageStore, n: usize) -> Descriptor {
        let bytes = canonical_json(&json!({"n": n}));
        Descriptor::new(
            MANIFEST_MEDIA_TYPE,
            store.put_blob(&bytes).unwrap(),
            bytes.len() as u64,
        )
    }

    #[test]
    fn tag_lookup_list_remove_and_gc() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        assert!(tmp.path().join("oci-layout").is_file());
        assert!(store.lookup("a:1").unwrap().is_none());

        let shared = layer_from_bytes(&store, &raw_tar(&[Item::File("shared", b"s")]));
        let only_b = layer_from_bytes(&store, &raw_tar(&[Item::File("b", b"b")]));
        let a = image(&store, vec![shared.clone()], "a:1");
        let b = image(&store, vec![shared.clone(), only_b.clone()], "b:1");
        let stray = store.put_blob(b"unreferenced").unwrap();
        fs::write(store.blobs_dir().join(".tmp-in-flight"), b"x").unwrap();

        assert_eq!(
            store
                .lookup("a:1")
                .unwrap()
                .unwrap()
                .manifest_descriptor
                .digest,
            a.manifest_descriptor.digest
        );
        let refs: Vec<_> = store
            .list()
            .unwrap()
            .into_iter()
            .map(|i| i.reference)
            .collect();
        assert_eq!(refs, ["a:1", "b:1"]);
        assert_eq!(
            store.image_size(&b),
            b.manifest_descriptor.size
                + b.manifest.config.size
                + shared.descriptor.size
                + only_b.descriptor.size
        );

        assert_eq!(store.gc().unwrap().0, 1);
        assert!(!store.has_blob(&stray));
        assert!(store.blobs_dir().join(".tmp-in-flight").exists());

        assert!(store.remove("b:1").unwrap());
        assert!(!store.remove("b:1").unwrap());
        let (removed, freed) = store.gc().unwrap();
        // b's manifest, config and its own layer; the shared layer stays with a.
        assert_eq!(removed, 3);
        assert_eq!(
            freed,
            b.manifest_descriptor.size + b.manifest.config.size + only_b.descriptor.size
        );
        assert!(store.has_blob(&shared.descriptor.digest));
        assert!(!store.has_blob(&only_b.descriptor.digest));
        assert!(store.lookup("a:1").unwrap().is_some());
        assert_eq!(store.gc().unwrap(), (0, 0));
    }

    #[test]
    fn retagging_replaces_the_entry_and_index_is_canonical() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        store.tag("z", &fake_manifest(&store, 1)).unwrap();
        store.tag("a", &fake_manifest(&store, 2)).unwrap();
        store.tag("z", &fake_manifest(&store, 3)).unwrap();
        let index = store.read_index().unwrap();
        let names: Vec<_> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| ref_name(e).unwrap())
            .collect();
        assert_eq!(names, ["a", "z"]);
        assert_eq!(
            index["manifests"][1]["digest"],
            fake_manifest(&store, 3).digest
        );
        assert_eq!(
            fs::read(store.index_path()).unwrap(),
            canonical_json(&index)
        );
    }

    #[test]
    fn concurrent_tags_from_threads_and_processes_lose_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let children: Vec<_> = (0..3)
            .map(|_| {
                Command::new(std::env::current_exe().unwrap())
                    .args(["store::tests::child_process_tags", "--exact", "--quiet"])
                    .env(CHILD_STORE, tmp.path())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let store = store.clone();
                scope.spawn(move || {
                    for i in 0..10 {
                        store
                            .tag(&format!("thread-{t}-{i}"), &fake_manifest(&store, i))
                            .unwrap();
                    }
                });
            }
        });
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let index = store.read_index().unwrap();
        let entries = index["manifests"].as_array().unwrap();
        let from_children = entries
            .iter()
            .filter(|e| ref_name(e).unwrap().starts_with("process-"))
            .count();
        assert_eq!(entries.len(), 40 + from_children);
        assert_eq!(from_children, 3 * 10);
    }

    /// Does nothing unless started by the test above, as a separate process.
    #[test]
    fn child_process_tags() {
        let Some(dir) = std::env::var_os(CHILD_STORE) else {
            return;
        };
        let store = ImageStore::open(Path::new(&dir)).unwrap();
        let id = std::process::id();
        for i in 0..10 {
            store
                .tag(&format!("process-{id}-{i}"), &fake_manifest(&store, i))
                .unwrap();
        }
    }
}
