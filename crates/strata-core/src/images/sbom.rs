//! An image's SBOM, stored beside it as an OCI referrer.

use strata_inventory::SbomFormat;
use strata_store::{StoreError, Workspace};

use super::{EnvImage, Result};

/// The media type of a CycloneDX JSON SBOM, as an OCI artifact type.
const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// Records the CycloneDX SBOM of an image's lock beside the image in the image store, as an
/// OCI referrer (see docs/containers.md); returns the referrer's manifest digest, or `None`
/// for an image without a lock (user-managed environments).
pub fn attach_sbom(workspace: &Workspace, image: &EnvImage) -> Result<Option<String>> {
    if image.lock_hash.is_none() {
        return Ok(None);
    }
    let (name, version) = (&image.record.name, &image.record.version);
    // The image was built from this lock a moment ago: its absence is the store's fault.
    let lock = workspace
        .get_lock(name, version)?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("The lock of `{name}:{version}`"),
        })?;
    let text = crate::sbom_of_lock(name, version, &lock, SbomFormat::CycloneDx);
    let size = image.store.read_blob(&image.digest)?.len() as u64;
    let subject = strata_image::Descriptor::new(
        strata_image::MANIFEST_MEDIA_TYPE,
        image.digest.clone(),
        size,
    );
    let referrer = strata_image::attach_referrer(
        &image.store,
        &subject,
        CYCLONEDX_MEDIA_TYPE,
        "sbom.cdx.json",
        text.as_bytes(),
    )?;
    Ok(Some(referrer.digest))
}
