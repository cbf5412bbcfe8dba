use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, Permissions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::{PermissionsExt, lchown, symlink};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use tar::EntryType;

use crate::compression::decompressed;
use crate::error::ImageError;
use crate::store::{ImageStore, StoredImage};

const OPAQUE: &str = ".wh..wh..opq";
const WHITEOUT: &str = ".wh.";

/// Unpacks an image's layers in order into `dest`, which must be empty or missing. Whiteouts
/// and opaque directories are applied, gzip layers are undone, devices and fifos are skipped.
/// Entries that would land outside `dest` (absolute, `..`, or through a symlink) are refused.
/// Ownership is restored where permitted.
pub fn unpack(store: &ImageStore, image: &StoredImage, dest: &Path) -> Result<(), ImageError> {
    fs::create_dir_all(dest).map_err(ImageError::io(dest))?;
    if fs::read_dir(dest)
        .map_err(ImageError::io(dest))?
        .next()
        .is_some()
    {
        return Err(ImageError::DestinationNotEmpty {
            path: dest.to_path_buf(),
        });
    }
    let mut unpacker = Unpacker {
        dest,
        dirs: BTreeMap::new(),
    };
    for layer in &image.manifest.layers {
        let blob = BufReader::new(store.open_blob(&layer.digest)?);
        let (_, reader) = decompressed(blob, &layer.digest)?;
        unpacker.layer(reader, &layer.digest)?;
    }
    // Children first, so a read-only directory doesn't block setting up its contents.
    for (path, (mode, mtime)) in unpacker.dirs.iter().rev() {
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            fs::set_permissions(path, Permissions::from_mode(*mode))
                .map_err(ImageError::io(path))?;
            if let Ok(dir) = File::open(path) {
                let _ = dir.set_modified(*mtime);
            }
        }
    }
    Ok(())
}

struct Unpacker<'a> {
    dest: &'a Path,
    /// Modes and mtimes of directories, applied once everything is in place.
    dirs: BTreeMap<PathBuf, (u32, SystemTime)>,
}

impl Unpacker<'_> {
    fn layer(&mut self, reader: impl Read, digest: &str) -> Result<(), ImageError> {
        let read_error = |source| ImageError::BlobRead {
            digest: digest.to_string(),
            source,
        };
        let mut archive = tar::Archive::new(reader);
        // Paths this layer wrote: an opaque marker hides only what lower layers left.
        let mut written = HashSet::new();
        for entry in archive.entries().map_err(read_error)? {
            let mut entry = entry.map_err(read_error)?;
            let raw = entry.path().map_err(read_error)?.into_owned();
            let shown = raw.display().to_string();
            let rel = relative(&raw, &shown)?;
            let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
                continue;
            };
            self.check_parents(parent, &shown)?;
            let name = name.to_string_lossy();
            if name == OPAQUE {
                let dir = self.dest.join(parent);
                let Ok(children) = fs::read_dir(&dir) else {
                    continue;
                };
                for child in children {
                    let child = child.map_err(ImageError::io(&dir))?;
                    if !written.contains(&parent.join(child.file_name())) {
                        self.remove(&child.path())?;
                    }
                }
                continue;
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                if hidden.is_empty() || hidden == "." || hidden == ".." {
                    return Err(unsafe_path(&shown, "whiteout of an invalid name"));
                }
                self.remove(&self.dest.join(parent).join(hidden))?;
                continue;
            }
            let target = self.dest.join(&rel);
            let parent_dir = self.dest.join(parent);
            fs::create_dir_all(&parent_dir).map_err(ImageError::io(&parent_dir))?;
            for ancestor in rel.ancestors() {
                written.insert(ancestor.to_path_buf());
            }
            let header = entry.header();
            let mode = header.mode().map_err(read_error)? & 0o7777;
            let owner = (header.uid().ok(), header.gid().ok());
            let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(header.mtime().unwrap_or(0));
            let entry_type = header.entry_type();
            match entry_type {
                EntryType::Directory => {
                    if !fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                        self.remove(&target)?;
                        fs::create_dir(&target).map_err(ImageError::io(&target))?;
                    }
                    chown(&target, owner);
                    self.dirs.insert(target, (mode, mtime));
                }
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                    self.remove(&target)?;
                    let mut file = File::create_new(&target).map_err(ImageError::io(&target))?;
                    io::copy(&mut entry, &mut file).map_err(read_error)?;
                    chown(&target, owner);
                    file.set_permissions(Permissions::from_mode(mode))
                        .map_err(ImageError::io(&target))?;
                    let _ = file.set_modified(mtime);
                }
                EntryType::Symlink => {
                    let link = entry.link_name().map_err(read_error)?;
                    let link =
                        link.ok_or_else(|| unsafe_path(&shown, "symlink without a target"))?;
                    self.remove(&target)?;
                    symlink(&link, &target).map_err(ImageError::io(&target))?;
                    chown(&target, owner);
                }
                EntryType::Link => {
                    let link = entry.link_name().map_err(read_error)?;
                    let link =
                        link.ok_or_else(|| unsafe_path(&shown, "hardlink without a target"))?;
                    let link_rel = relative(&link, &shown)?;
                    // A hardlink to a symlink is the symlink itself, never what it points to.
                    self.check_parents(link_rel.parent().unwrap_or(&link_rel), &shown)?;
                    self.remove(&target)?;
                    let source = self.dest.join(link_rel);
                    fs::hard_link(&source, &target).map_err(ImageError::io(&source))?;
                }
                // Devices need privileges containers rarely grant and fifos are never in
                // environments.
                _ => {}
            }
        }
        Ok(())
    }

    /// Refuses paths that pass through a symlink, which could point anywhere on the host.
    fn check_parents(&self, rel: &Path, shown: &str) -> Result<(), ImageError> {
        let mut path = self.dest.to_path_buf();
        for component in rel.components() {
            path.push(component);
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(unsafe_path(shown, "it goes through a symlink"));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(())
    }

    fn remove(&mut self, path: &Path) -> Result<(), ImageError> {
        let result = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                self.dirs.retain(|dir, _| !dir.starts_with(path));
                fs::remove_dir_all(path)
            }
            Ok(_) => fs::remove_file(path),
            Err(_) => return Ok(()),
        };
        result.map_err(ImageError::io(path))
    }
}

/// The entry's path relative to the destination; absolute paths and `..` are refused.
fn relative(path: &Path, shown: &str) -> Result<PathBuf, ImageError> {
    let mut rel = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_path(shown, "it contains `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_path(shown, "it is absolute"));
            }
        }
    }
    Ok(rel)
}

/// Ownership is best effort: without privileges the files simply belong to the caller.
fn chown(path: &Path, (uid, gid): (Option<u64>, Option<u64>)) {
    let id = |v: Option<u64>| v.and_then(|v| u32::try_from(v).ok());
    let _ = lchown(path, id(uid), id(gid));
}

fn unsafe_path(path: &str, reason: &str) -> ImageError {
    ImageError::UnsafePath {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::layer::LayerBuilder;
    use crate::test_support::{Item, image, layer_from_bytes, raw_tar};

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let lower = raw_tar(&[
            Item::Dir("a/"),
            Item::File("a/gone", b"1"),
            Item::File("a/kept", b"2"),
            Item::Dir("b/"),
            Item::File("b/old", b"3"),
            Item::Dir("b/sub/"),
            Item::File("b/sub/deep", b"4"),
            Item::File("./c", b"5"),
            Item::Hardlink("c2", "c"),
            Item::Symlink("l", "a/kept"),
        ]);
        let upper = raw_tar(&[
            Item::File("a/.wh.gone", b""),
            Item::File("b/new", b"6"),
            Item::File("b/.wh..wh..opq", b""),
            Item::File("c", b"replaced"),
        ]);
        let layers = vec![
            layer_from_bytes(&store, &lower),
            layer_from_bytes(&store, &upper),
        ];
        let image = image(&store, layers, "img");
        let dest = tmp.path().join("rootfs");
        unpack(&store, &image, &dest).unwrap();

        assert!(!dest.join("a/gone").exists());
        assert_eq!(fs::read(dest.join("a/kept")).unwrap(), b"2");
        assert!(!dest.join("b/old").exists());
        assert!(!dest.join("b/sub").exists());
        assert_eq!(fs::read(dest.join("b/new")).unwrap(), b"6");
        // The upper `c` replaced the file rather than writing through the hardlink.
        assert_eq!(fs::read(dest.join("c")).unwrap(), b"replaced");
        assert_eq!(fs::read(dest.join("c2")).unwrap(), b"5");
        assert_eq!(fs::read_link(dest.join("l")).unwrap(), Path::new("a/kept"));
        assert!(!dest.join("a/.wh.gone").exists());

        assert!(matches!(
            unpack(&store, &image, &dest),
            Err(ImageError::DestinationNotEmpty { .. })
        ));
    }

    #[test]
    fn layers_from_the_builder_round_trip_with_modes_and_links() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("bin")).unwrap();
        fs::write(src.join("bin/tool"), b"#!").unwrap();
        fs::set_permissions(src.join("bin/tool"), Permissions::from_mode(0o750)).unwrap();
        fs::hard_link(src.join("bin/tool"), src.join("bin/tool2")).unwrap();
        fs::create_dir(src.join("ro")).unwrap();
        fs::write(src.join("ro/f"), b"f").unwrap();
        fs::set_permissions(src.join("ro"), Permissions::from_mode(0o555)).unwrap();
        let mut builder = LayerBuilder::new();
        builder.add_dir(&src, "env").unwrap();
        let layer = builder.write(&store).unwrap();
        let dest = tmp.path().join("rootfs");
        unpack(&store, &image(&store, vec![layer], "img"), &dest).unwrap();

        let tool = fs::metadata(dest.join("env/bin/tool")).unwrap();
        assert_eq!(tool.mode() & 0o7777, 0o750);
        assert_eq!(
            tool.ino(),
            fs::metadata(dest.join("env/bin/tool2")).unwrap().ino()
        );
        assert_eq!(
            fs::metadata(dest.join("env/ro")).unwrap().mode() & 0o7777,
            0o555
        );
        assert_eq!(fs::read(dest.join("env/ro/f")).unwrap(), b"f");
        assert_eq!(tool.mtime(), crate::EPOCH);
    }

    #[test]
    fn gzip_layers_are_undone_and_zstd_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let tar = raw_tar(&[Item::File("hello", b"world")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = layer_from_bytes(&store, &gz.finish().unwrap());
        unpack(
            &store,
            &image(&store, vec![gz], "gz"),
            &tmp.path().join("gz"),
        )
        .unwrap();
        assert_eq!(fs::read(tmp.path().join("gz/hello")).unwrap(), b"world");

        let zstd = layer_from_bytes(&store, &[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]);
        let result = unpack(
            &store,
            &image(&store, vec![zstd], "zstd"),
            &tmp.path().join("zstd"),
        );
        assert!(
            matches!(result, Err(ImageError::UnsupportedCompression { compression, .. }) if compression == "zstd")
        );
    }

    #[test]
    fn entries_escaping_the_destination_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let escape_via = |items: &[Item<'_>], name: &str| {
            let layers = vec![layer_from_bytes(&store, &raw_tar(items))];
            unpack(&store, &image(&store, layers, name), &tmp.path().join(name))
        };

        let dotdot = escape_via(&[Item::File("../evil", b"x")], "dotdot");
        assert!(
            matches!(dotdot, Err(ImageError::UnsafePath { .. })),
            "{dotdot:?}"
        );
        assert!(!tmp.path().join("evil").exists());

        let absolute = escape_via(&[Item::File("/abs-evil", b"x")], "absolute");
        assert!(
            matches!(absolute, Err(ImageError::UnsafePath { .. })),
            "{absolute:?}"
        );

        let target = outside.to_str().unwrap();
        let through_link = escape_via(
            &[Item::Symlink("link", target), Item::File("link/evil", b"x")],
            "link",
        );
        assert!(
            matches!(through_link, Err(ImageError::UnsafePath { .. })),
            "{through_link:?}"
        );
        assert!(!outside.join("evil").exists());

        let hardlink = escape_via(&[Item::Hardlink("h", "../outside/x")], "hardlink");
        assert!(
            matches!(hardlink, Err(ImageError::UnsafePath { .. })),
            "{hardlink:?}"
        );
    }
}
