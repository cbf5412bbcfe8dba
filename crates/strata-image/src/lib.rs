//! Daemonless, deterministic OCI images: layers, configs and manifests written byte-for-byte
//! reproducibly into a local OCI layout, plus import, export and unpacking.

pub use assemble::{ImageSpec, assemble};
pub use digest::{canonical_json, sha256_digest};
pub use error::ImageError;
pub use export::{export_oci_archive, export_oci_dir};
pub use import::{import_archive, import_oci_dir};
pub use layer::{Layer, LayerBuilder, import_layer_tar};
pub use manifest::{
    CONFIG_MEDIA_TYPE, Descriptor, EPOCH, EPOCH_RFC3339, INDEX_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE,
    LAYER_MEDIA_TYPE, LAYER_ZSTD_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, Manifest, REF_NAME_ANNOTATION,
};
pub use referrer::{EMPTY_MEDIA_TYPE, SUBJECT_ANNOTATION, attach_referrer, referrers};
pub use store::{ImageStore, StoredImage};
pub use unpack::unpack;

mod assemble;
mod compression;
mod digest;
mod error;
mod export;
mod import;
mod layer;
mod manifest;
mod referrer;
mod source;
mod store;
mod tar_entry;
#[cfg(test)]
mod test_support;
mod unpack;
