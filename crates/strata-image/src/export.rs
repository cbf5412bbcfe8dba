use std::collections::{BTreeMap, BTreeSet};
use std::fs::Permissions;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;
use tar::EntryType;

use crate::digest::{canonical_json, digest_hex};
use crate::error::ImageError;
use crate::manifest::{Descriptor, INDEX_MEDIA_TYPE, REF_NAME_ANNOTATION};
use crate::store::{ImageStore, StoredImage};
use crate::tar_entry::{ExactReader, normalised_header};

/// Writes a deterministic oci-archive: a tar of an OCI layout holding only this image, named
/// `reference` in its `index.json`, normalised like layers.
pub fn export_oci_archive(
    store: &ImageStore,
    reference: &str,
    out: &Path,
) -> Result<(), ImageError> {
    let image = find(store, reference)?;
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(ImageError::io(dir))?;
    let tmp_path = tmp.path().to_path_buf();
    let to_tmp = || ImageError::io(&tmp_path);
    let mut builder = tar::Builder::new(BufWriter::new(tmp));
    for path in ["blobs/", "blobs/sha256/"] {
        let mut header = normalised_header(EntryType::Directory, 0o755, 0);
        builder
            .append_data(&mut header, path, io::empty())
            .map_err(to_tmp())?;
    }
    // Sorted by digest, which is also path order.
    for digest in blob_digests(&image) {
        let file = store.open_blob(&digest)?;
        let size = file
            .metadata()
            .map_err(ImageError::io(&store.blob_path(&digest)))?
            .len();
        let mut header = normalised_header(EntryType::Regular, 0o644, size);
        let path = format!("blobs/sha256/{}", digest_hex(&digest)?);
        let reader = ExactReader {
            inner: BufReader::new(file),
            remaining: size,
        };
        builder
            .append_data(&mut header, &path, reader)
            .map_err(to_tmp())?;
    }
    let mut descriptor = image.manifest_descriptor.clone();
    descriptor.annotations = BTreeMap::from([(REF_NAME_ANNOTATION.into(), reference.into())]);
    let index =
        json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [descriptor]});
    let layout = json!({"imageLayoutVersion": "1.0.0"});
    for (path, value) in [("index.json", index), ("oci-layout", layout)] {
        let bytes = canonical_json(&value);
        let mut header = normalised_header(EntryType::Regular, 0o644, bytes.len() as u64);
        builder
            .append_data(&mut header, path, &bytes[..])
            .map_err(to_tmp())?;
    }
    let mut writer = builder.into_inner().map_err(to_tmp())?;
    writer.flush().map_err(to_tmp())?;
    let tmp = writer.into_inner().map_err(|e| to_tmp()(e.into_error()))?;
    tmp.persist(out).map_err(|e| ImageError::io(out)(e.error))?;
    Ok(())
}

/// Copies one image (its blobs and index entry) into another OCI layout directory, creating it
/// if needed and keeping the images already there.
pub fn export_oci_dir(
    store: &ImageStore,
    reference: &str,
    out_dir: &Path,
) -> Result<(), ImageError> {
    let image = find(store, reference)?;
    let target = ImageStore::open(out_dir)?;
    for digest in blob_digests(&image) {
        if target.has_blob(&digest) {
            continue;
        }
        let (actual, _) = target.put_blob_file(&store.blob_path(&digest))?;
        if actual != digest {
            return Err(ImageError::CorruptBlob { digest, actual });
        }
    }
    let mut descriptor = image.manifest_descriptor;
    descriptor.annotations.clear();
    target.tag(reference, &descriptor)
}

fn find(store: &ImageStore, reference: &str) -> Result<StoredImage, ImageError> {
    store
        .lookup(reference)?
        .ok_or_else(|| ImageError::NotFound {
            reference: reference.to_string(),
            location: store.dir().to_path_buf(),
        })
}

fn blob_digests(image: &StoredImage) -> BTreeSet<String> {
    let layers = image.manifest.layers.iter();
    [&image.manifest_descriptor, &image.manifest.config]
        .into_iter()
        .chain(layers)
        .map(|d: &Descriptor| d.digest.clone())
        .collect()
}
