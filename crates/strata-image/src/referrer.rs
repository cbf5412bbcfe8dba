//! OCI 1.1 referrers in the local layout: an artifact (an SBOM) attached to an image as its
//! own manifest whose `subject` is the image manifest. The image itself is untouched, so its
//! digest stays the digest of its content. The referrer is listed in `index.json` without a
//! ref name (image listings skip it, garbage collection keeps its blobs) and annotated with
//! its subject.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::digest::canonical_json;
use crate::error::ImageError;
use crate::manifest::{Descriptor, MANIFEST_MEDIA_TYPE};
use crate::store::ImageStore;

/// The media type of the empty config of an artifact manifest (`{}`).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The index annotation naming the manifest a referrer refers to.
pub const SUBJECT_ANNOTATION: &str = "org.strata.referrer.subject";

/// Stores `content` as an artifact of `artifact_type` referring to `subject`, replacing an
/// older referrer of the same type and subject; returns the referrer manifest's descriptor.
/// Deterministic: the same content and subject give the same manifest digest.
pub fn attach_referrer(
    store: &ImageStore,
    subject: &Descriptor,
    artifact_type: &str,
    file_name: &str,
    content: &[u8],
) -> Result<Descriptor, ImageError> {
    let layer = store.put_blob(content)?;
    let config = store.put_blob(b"{}")?;
    let mut subject = subject.clone();
    subject.annotations.clear();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": config, "size": 2},
        "layers": [{
            "mediaType": artifact_type,
            "digest": layer,
            "size": content.len(),
            "annotations": {"org.opencontainers.image.title": file_name},
        }],
        "subject": subject,
    });
    let bytes = canonical_json(&manifest);
    let digest = store.put_blob(&bytes)?;
    let descriptor = Descriptor {
        media_type: MANIFEST_MEDIA_TYPE.to_string(),
        digest,
        size: bytes.len() as u64,
        annotations: BTreeMap::from([(SUBJECT_ANNOTATION.to_string(), subject.digest.clone())]),
    };
    let mut entry = serde_json::to_value(&descriptor).map_err(ImageError::json("a descriptor"))?;
    entry["artifactType"] = Value::String(artifact_type.to_string());
    store.update_index(|entries| {
        entries.retain(|e| {
            e["annotations"][SUBJECT_ANNOTATION].as_str() != Some(subject.digest.as_str())
                || e["artifactType"].as_str() != Some(artifact_type)
        });
        entries.push(entry);
    })?;
    Ok(descriptor)
}

/// The referrers of the manifest `subject_digest` in the store: `(artifact type, manifest
/// descriptor)`, sorted.
pub fn referrers(
    store: &ImageStore,
    subject_digest: &str,
) -> Result<Vec<(String, Descriptor)>, ImageError> {
    let mut found: Vec<(String, Descriptor)> = store
        .index_entries()?
        .into_iter()
        .filter(|e| e["annotations"][SUBJECT_ANNOTATION].as_str() == Some(subject_digest))
        .filter_map(|e| {
            let artifact_type = e["artifactType"].as_str()?.to_string();
            let descriptor = serde_json::from_value(e).ok()?;
            Some((artifact_type, descriptor))
        })
        .collect();
    found.sort_by(|a, b| (&a.0, &a.1.digest).cmp(&(&b.0, &b.1.digest)));
    Ok(found)
}
