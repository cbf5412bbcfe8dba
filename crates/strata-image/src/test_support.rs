//! Helpers for tests: hand-made layers, including ones a well-behaved writer refuses to make.

use tar::{EntryType, Header};

use crate::assemble::{ImageSpec, assemble};
use crate::digest::sha256_digest;
use crate::layer::Layer;
use crate::manifest::{Descriptor, LAYER_MEDIA_TYPE};
use crate::store::{ImageStore, StoredImage};

pub(crate) enum Item<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A tar with names copied verbatim into the headers, so `..` and absolute paths get through.
pub(crate) fn raw_tar(items: &[Item<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let (name, kind, data, link) = match *item {
            Item::File(name, data) => (name, EntryType::Regular, data, None),
            Item::Dir(name) => (name, EntryType::Directory, &[][..], None),
            Item::Symlink(name, target) => (name, EntryType::Symlink, &[][..], Some(target)),
            Item::Hardlink(name, target) => (name, EntryType::Link, &[][..], Some(target)),
        };
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

pub(crate) fn layer_from_bytes(store: &ImageStore, bytes: &[u8]) -> Layer {
    let digest = store.put_blob(bytes).unwrap();
    Layer {
        descriptor: Descriptor::new(LAYER_MEDIA_TYPE, digest, bytes.len() as u64),
        diff_id: sha256_digest(bytes),
    }
}

pub(crate) fn image(store: &ImageStore, layers: Vec<Layer>, reference: &str) -> StoredImage {
    let spec = ImageSpec {
        layers,
        history_comment: "test".into(),
        ..ImageSpec::default()
    };
    assemble(store, None, &spec, reference).unwrap();
    store.lookup(reference).unwrap().unwrap()
}
