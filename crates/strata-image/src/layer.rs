use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, Metadata};
use std::io::{self, BufRead, BufReader, BufWriter};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use tar::EntryType;

use crate::compression::Compression;
use crate::digest::HashingWriter;
use crate::error::ImageError;
use crate::manifest::{Descriptor, LAYER_GZIP_MEDIA_TYPE, LAYER_MEDIA_TYPE};
use crate::store::ImageStore;
use crate::tar_entry::{ExactReader, normalised_header};

/// A layer written into the store: its descriptor plus the uncompressed digest (diff_id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub diff_id: String,
}

/// Deterministic layer writer. Entries are collected, then written sorted by path bytes (parents
/// always before children), with normalised headers. When the same path is added twice the last
/// addition wins; replacing a directory by a non-directory drops what was under it.
#[derive(Debug, Default)]
pub struct LayerBuilder {
    entries: BTreeMap<String, Entry>,
    /// Methods that cannot return errors park the first one here for `write`.
    error: Option<ImageError>,
}

#[derive(Debug)]
struct Entry {
    content: Content,
    mode: u32,
}

#[derive(Debug)]
enum Content {
    Dir,
    Bytes(Vec<u8>),
    /// `inode` is set only for files with several links, to find their siblings at write time.
    HostFile {
        source: PathBuf,
        inode: Option<(u64, u64)>,
    },
    Symlink(PathBuf),
}

impl LayerBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the tree under `source` at `dest` inside the image (e.g. `opt/strata/env`), without
    /// following symlinks. Files hardlinked to each other stay hardlinks; devices, sockets and
    /// fifos are skipped. Parents of `dest` become directories with mode 0o755.
    pub fn add_dir(&mut self, source: &Path, dest: &str) -> Result<(), ImageError> {
        let dest = normalise_dest(dest)?;
        let meta = fs::symlink_metadata(source).map_err(ImageError::io(source))?;
        self.walk(source, dest, &meta)
    }

    /// A regular file with the given bytes and permission bits.
    pub fn add_file(&mut self, dest: &str, contents: Vec<u8>, mode: u32) {
        self.add(dest, Content::Bytes(contents), mode);
    }

    /// A regular file copied from the host; its contents are read by `write`.
    pub fn add_host_file(&mut self, dest: &str, source: &Path, mode: u32) {
        let source = source.to_path_buf();
        self.add(
            dest,
            Content::HostFile {
                source,
                inode: None,
            },
            mode,
        );
    }

    /// An empty directory (e.g. the image's working directory).
    pub fn add_empty_dir(&mut self, dest: &str, mode: u32) {
        self.add(dest, Content::Dir, mode);
    }

    /// Writes the layer as an uncompressed tar blob into the store, hashing it as it streams to
    /// a temporary file beside the blobs; its digest is also its diff_id.
    pub fn write(self, store: &ImageStore) -> Result<Layer, ImageError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let tmp = store.blob_temp_file()?;
        let tmp_path = tmp.path().to_path_buf();
        let mut builder = tar::Builder::new(HashingWriter::new(BufWriter::new(tmp)));
        let mut entries: Vec<(String, Entry)> = self
            .entries
            .into_iter()
            .map(|(path, entry)| match entry.content {
                Content::Dir => (format!("{path}/"), entry),
                _ => (path, entry),
            })
            .collect();
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut first_by_inode: HashMap<(u64, u64), String> = HashMap::new();
        for (path, entry) in entries {
            let to_tmp = ImageError::io(&tmp_path);
            match entry.content {
                Content::Dir => {
                    let mut header = normalised_header(EntryType::Directory, entry.mode, 0);
                    builder
                        .append_data(&mut header, &path, io::empty())
                        .map_err(to_tmp)?;
                }
                Content::Bytes(bytes) => {
                    let size = bytes.len() as u64;
                    let mut header = normalised_header(EntryType::Regular, entry.mode, size);
                    builder
                        .append_data(&mut header, &path, &bytes[..])
                        .map_err(to_tmp)?;
                }
                Content::HostFile { source, inode } => {
                    if let Some(inode) = inode {
                        if let Some(first) = first_by_inode.get(&inode) {
                            let mut header = normalised_header(EntryType::Link, entry.mode, 0);
                            builder
                                .append_link(&mut header, &path, first)
                                .map_err(to_tmp)?;
                            continue;
                        }
                        first_by_inode.insert(inode, path.clone());
                    }
                    let file = File::open(&source).map_err(ImageError::io(&source))?;
                    let size = file.metadata().map_err(ImageError::io(&source))?.len();
                    let mut header = normalised_header(EntryType::Regular, entry.mode, size);
                    let reader = ExactReader {
                        inner: BufReader::new(file),
                        remaining: size,
                    };
                    builder
                        .append_data(&mut header, &path, reader)
                        .map_err(ImageError::io(&source))?;
                }
                Content::Symlink(target) => {
                    let mut header = normalised_header(EntryType::Symlink, 0o777, 0);
                    builder
                        .append_link(&mut header, &path, &target)
                        .map_err(to_tmp)?;
                }
            }
        }
        let writer = builder.into_inner().map_err(ImageError::io(&tmp_path))?;
        let (digest, size) = (writer.digest(), writer.size);
        let tmp = writer
            .inner
            .into_inner()
            .map_err(|e| ImageError::io(&tmp_path)(e.into_error()))?;
        store.persist_blob(tmp, &digest)?;
        Ok(Layer {
            descriptor: Descriptor::new(LAYER_MEDIA_TYPE, digest.clone(), size),
            diff_id: digest,
        })
    }

    fn add(&mut self, dest: &str, content: Content, mode: u32) {
        match normalise_dest(dest) {
            Ok(path) => self.insert(path, Entry { content, mode }),
            Err(error) => {
                self.error.get_or_insert(error);
            }
        }
    }

    fn walk(&mut self, host: &Path, path: String, meta: &Metadata) -> Result<(), ImageError> {
        let mode = meta.mode();
        let file_type = meta.file_type();
        if file_type.is_dir() {
            self.insert(
                path.clone(),
                Entry {
                    content: Content::Dir,
                    mode,
                },
            );
            for item in fs::read_dir(host).map_err(ImageError::io(host))? {
                let item = item.map_err(ImageError::io(host))?;
                let child = item.path();
                let name = item
                    .file_name()
                    .into_string()
                    .map_err(|_| ImageError::NonUtf8Path {
                        path: child.clone(),
                    })?;
                let meta = fs::symlink_metadata(&child).map_err(ImageError::io(&child))?;
                let child_path = if path.is_empty() {
                    name
                } else {
                    format!("{path}/{name}")
                };
                self.walk(&child, child_path, &meta)?;
            }
        } else if file_type.is_file() {
            let inode = (meta.nlink() > 1).then(|| (meta.dev(), meta.ino()));
            let source = host.to_path_buf();
            self.insert(
                path,
                Entry {
                    content: Content::HostFile { source, inode },
                    mode,
                },
            );
        } else if file_type.is_symlink() {
            let target = fs::read_link(host).map_err(ImageError::io(host))?;
            self.insert(
                path,
                Entry {
                    content: Content::Symlink(target),
                    mode: 0o777,
                },
            );
        }
        Ok(())
    }

    fn insert(&mut self, path: String, entry: Entry) {
        // The image root itself is never an entry.
        if path.is_empty() {
            return;
        }
        for (i, _) in path.match_indices('/') {
            let parent = &path[..i];
            if !matches!(
                self.entries.get(parent),
                Some(Entry {
                    content: Content::Dir,
                    ..
                })
            ) {
                self.replace(
                    parent.to_string(),
                    Entry {
                        content: Content::Dir,
                        mode: 0o755,
                    },
                );
            }
        }
        self.replace(path, entry);
    }

    fn replace(&mut self, path: String, entry: Entry) {
        let was_dir = matches!(
            self.entries.get(&path),
            Some(Entry {
                content: Content::Dir,
                ..
            })
        );
        if was_dir && !matches!(entry.content, Content::Dir) {
            let prefix = format!("{path}/");
            self.entries.retain(|p, _| !p.starts_with(&prefix));
        }
        self.entries.insert(path, entry);
    }
}

/// A relative path without `.`, empty components or a trailing slash; `..` is refused.
fn normalise_dest(dest: &str) -> Result<String, ImageError> {
    let mut parts = Vec::new();
    for part in dest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(ImageError::InvalidPath {
                    path: dest.to_string(),
                    reason: "`..` is not allowed".to_string(),
                });
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// A layer from a rootfs tarball written by another tool: stored as is (gzip stays gzip).
pub fn import_layer_tar(store: &ImageStore, tar_path: &Path) -> Result<Layer, ImageError> {
    let mut reader = BufReader::new(File::open(tar_path).map_err(ImageError::io(tar_path))?);
    let magic = reader.fill_buf().map_err(ImageError::io(tar_path))?;
    let compression = Compression::detect(magic);
    if !matches!(compression, Compression::None | Compression::Gzip) {
        return Err(compression.unsupported(&tar_path.display().to_string()));
    }
    let (digest, size) = store.put_blob_file(tar_path)?;
    match compression {
        Compression::None => Ok(Layer {
            descriptor: Descriptor::new(LAYER_MEDIA_TYPE, digest.clone(), size),
            diff_id: digest,
        }),
        _ => {
            let mut hasher = HashingWriter::new(io::sink());
            io::copy(&mut MultiGzDecoder::new(reader), &mut hasher)
                .map_err(ImageError::io(tar_path))?;
            Ok(Layer {
                descriptor: Descriptor::new(LAYER_GZIP_MEDIA_TYPE, digest, size),
                diff_id: hasher.digest(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::{PermissionsExt, lchown, symlink};
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::manifest::EPOCH;

    /// Writes the same tree in the given file order, stamping mtimes and owners from `salt`.
    fn make_tree(root: &Path, order: &[&str], salt: u64) {
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("lib/python")).unwrap();
        for name in order {
            let path = root.join(name);
            fs::write(&path, format!("content of {name}")).unwrap();
            let mode = if name.starts_with("bin/") {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 * salt);
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
            // Only works as root; the digest must not depend on it either way.
            let _ = lchown(&path, Some(1000 + salt as u32), Some(1000 + salt as u32));
        }
        fs::hard_link(root.join("bin/python"), root.join("bin/python3")).unwrap();
        symlink("python3", root.join("bin/py")).unwrap();
    }

    fn write_tree(store: &ImageStore, source: &Path) -> Layer {
        let mut builder = LayerBuilder::new();
        builder.add_dir(source, "opt/strata/env").unwrap();
        builder.write(store).unwrap()
    }

    #[test]
    fn same_tree_gives_same_digest_and_any_change_a_different_one() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let files = ["bin/python", "lib/python/a.py", "lib/python/b.py", "README"];
        let reversed: Vec<_> = files.iter().rev().copied().collect();
        make_tree(&tmp.path().join("one"), &files, 1);
        make_tree(&tmp.path().join("two"), &reversed, 2);

        let one = write_tree(&store, &tmp.path().join("one"));
        let two = write_tree(&store, &tmp.path().join("two"));
        assert_eq!(one, two);
        assert_eq!(one.diff_id, one.descriptor.digest);

        fs::write(tmp.path().join("two/README"), "content of READMF").unwrap();
        let changed_byte = write_tree(&store, &tmp.path().join("two"));
        assert_ne!(changed_byte.descriptor.digest, one.descriptor.digest);

        fs::write(tmp.path().join("two/README"), "content of README").unwrap();
        assert_eq!(write_tree(&store, &tmp.path().join("two")), one);
        let readme = tmp.path().join("two/README");
        fs::set_permissions(&readme, fs::Permissions::from_mode(0o600)).unwrap();
        let changed_mode = write_tree(&store, &tmp.path().join("two"));
        assert_ne!(changed_mode.descriptor.digest, one.descriptor.digest);
    }

    #[test]
    fn tar_is_sorted_normalised_and_keeps_links() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        make_tree(&tmp.path().join("env"), &["bin/python", "README"], 3);
        let mut builder = LayerBuilder::new();
        builder
            .add_dir(&tmp.path().join("env"), "/opt/strata/env/")
            .unwrap();
        let long = format!("app/{}/file.txt", "d".repeat(120));
        builder.add_file(&long, b"long".to_vec(), 0o640);
        builder.add_file("app/run.sh", b"old".to_vec(), 0o644);
        builder.add_file("app/run.sh", b"#!/bin/sh\n".to_vec(), 0o755);
        builder.add_empty_dir("work", 0o700);
        let layer = builder.write(&store).unwrap();

        let bytes = store.read_blob(&layer.descriptor.digest).unwrap();
        assert_eq!(bytes.len() as u64, layer.descriptor.size);
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let header = entry.header().clone();
            assert_eq!(header.mtime().unwrap(), EPOCH as u64, "{path}");
            assert_eq!(
                (header.uid().unwrap(), header.gid().unwrap()),
                (0, 0),
                "{path}"
            );
            assert_eq!(header.username().unwrap(), Some(""));
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            let mut data = String::new();
            entry.read_to_string(&mut data).unwrap();
            seen.push((
                path,
                header.entry_type(),
                header.mode().unwrap(),
                link,
                data,
            ));
        }
        let paths: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        let find = |p: &str| {
            seen.iter()
                .find(|s| s.0 == p)
                .unwrap_or_else(|| panic!("no {p}"))
        };
        for dir in [
            "app/",
            "opt/",
            "opt/strata/",
            "opt/strata/env/",
            "opt/strata/env/bin/",
        ] {
            assert_eq!(find(dir).1, EntryType::Directory);
        }
        assert_eq!(find("opt/").2, 0o755);
        assert_eq!(find("work/").2, 0o700);
        let py = find("opt/strata/env/bin/py");
        assert_eq!(
            (py.1, py.3.as_deref()),
            (EntryType::Symlink, Some("python3"))
        );
        let python = find("opt/strata/env/bin/python");
        assert_eq!((python.1, python.2), (EntryType::Regular, 0o755));
        let python3 = find("opt/strata/env/bin/python3");
        assert_eq!(python3.1, EntryType::Link);
        assert_eq!(python3.3.as_deref(), Some("opt/strata/env/bin/python"));
        let run = find("app/run.sh");
        assert_eq!((run.2, run.4.as_str()), (0o755, "#!/bin/sh\n"));
        assert_eq!(find(&long).4, "long");
    }

    #[test]
    fn parent_dir_in_dest_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let mut builder = LayerBuilder::new();
        builder.add_file("../etc/passwd", Vec::new(), 0o644);
        assert!(matches!(
            builder.write(&store),
            Err(ImageError::InvalidPath { .. })
        ));
    }

    #[test]
    fn gzipped_rootfs_keeps_its_blob_and_gets_the_uncompressed_diff_id() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let tar = crate::test_support::raw_tar(&[crate::test_support::Item::File("etc/os", b"x")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        fs::write(tmp.path().join("rootfs.tar"), &tar).unwrap();
        fs::write(tmp.path().join("rootfs.tar.gz"), &gz).unwrap();

        let plain = import_layer_tar(&store, &tmp.path().join("rootfs.tar")).unwrap();
        assert_eq!(plain.descriptor.media_type, LAYER_MEDIA_TYPE);
        assert_eq!(plain.diff_id, crate::sha256_digest(&tar));
        let zipped = import_layer_tar(&store, &tmp.path().join("rootfs.tar.gz")).unwrap();
        assert_eq!(zipped.descriptor.media_type, LAYER_GZIP_MEDIA_TYPE);
        assert_eq!(zipped.descriptor.digest, crate::sha256_digest(&gz));
        assert_eq!(zipped.diff_id, plain.diff_id);

        fs::write(
            tmp.path().join("rootfs.tar.zst"),
            [0x28, 0xb5, 0x2f, 0xfd, 0, 0],
        )
        .unwrap();
        let zstd = import_layer_tar(&store, &tmp.path().join("rootfs.tar.zst"));
        assert!(matches!(
            zstd,
            Err(ImageError::UnsupportedCompression { .. })
        ));
    }
}
