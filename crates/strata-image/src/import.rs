use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::compression::Compression;
use crate::digest::{canonical_json, digest_hex, sha256_digest};
use crate::error::ImageError;
use crate::manifest::{
    CONFIG_MEDIA_TYPE, DOCKER_MANIFEST_LIST_MEDIA_TYPE, Descriptor, INDEX_MEDIA_TYPE,
    LAYER_GZIP_MEDIA_TYPE, LAYER_MEDIA_TYPE, LAYER_ZSTD_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, Manifest,
    REF_NAME_ANNOTATION,
};
use crate::source::{DirSource, Source, TarSource, missing};
use crate::store::{ImageStore, StoredImage};

/// Imports an oci-archive or a docker-archive (as `docker save` and `podman save` write, maybe
/// gzipped) into the store under `reference`. `source_ref` picks the image when the archive holds
/// several; an image index is resolved to its `linux/amd64` image.
pub fn import_archive(
    store: &ImageStore,
    archive: &Path,
    source_ref: Option<&str>,
    reference: &str,
) -> Result<StoredImage, ImageError> {
    import(
        store,
        &TarSource::open(store, archive)?,
        source_ref,
        reference,
    )
}

/// Imports an image from an OCI layout directory, like [`import_archive`].
pub fn import_oci_dir(
    store: &ImageStore,
    dir: &Path,
    source_ref: Option<&str>,
    reference: &str,
) -> Result<StoredImage, ImageError> {
    import(
        store,
        &DirSource {
            dir: dir.to_path_buf(),
        },
        source_ref,
        reference,
    )
}

fn import(
    store: &ImageStore,
    source: &dyn Source,
    source_ref: Option<&str>,
    reference: &str,
) -> Result<StoredImage, ImageError> {
    let index = source.read("index.json")?;
    let docker = source.read("manifest.json")?;
    let descriptor = match (index, docker) {
        // `docker save` since Docker 25 writes both, naming images by tag only in `index.json`.
        (Some(index), docker) => match (import_oci(store, source, &index, source_ref), docker) {
            (Err(ImageError::NotFound { .. }), Some(docker)) => {
                import_docker(store, source, &docker, source_ref)?
            }
            (result, _) => result?,
        },
        (None, Some(docker)) => import_docker(store, source, &docker, source_ref)?,
        (None, None) => {
            return Err(ImageError::UnknownArchive {
                path: source.location().to_path_buf(),
            });
        }
    };
    store.tag(reference, &descriptor)?;
    store
        .lookup(reference)?
        .ok_or_else(|| ImageError::NotFound {
            reference: reference.to_string(),
            location: store.dir().to_path_buf(),
        })
}

fn import_oci(
    store: &ImageStore,
    source: &dyn Source,
    index: &[u8],
    source_ref: Option<&str>,
) -> Result<Descriptor, ImageError> {
    let index: Value = serde_json::from_slice(index).map_err(ImageError::json("`index.json`"))?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let name = |e: &Value| {
        e["annotations"][REF_NAME_ANNOTATION]
            .as_str()
            .map(str::to_string)
    };
    let entry = pick(
        source,
        source_ref,
        entries
            .iter()
            .filter(|e| source_ref.is_none() || name(e).as_deref() == source_ref),
        |e| name(e).unwrap_or_default(),
    )?;
    let mut descriptor: Descriptor =
        serde_json::from_value(entry.clone()).map_err(ImageError::json("`index.json`"))?;
    let mut manifest_bytes = read_blob(source, &descriptor.digest)?;
    // Nested indexes are legal; a small bound keeps a malicious cycle from looping forever.
    for _ in 0..4 {
        if ![INDEX_MEDIA_TYPE, DOCKER_MANIFEST_LIST_MEDIA_TYPE]
            .contains(&descriptor.media_type.as_str())
        {
            break;
        }
        let nested: Value = serde_json::from_slice(&manifest_bytes).map_err(ImageError::json(
            format!("image index `{}`", descriptor.digest),
        ))?;
        let platform = nested["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64");
        let Some(platform) = platform else {
            return Err(ImageError::NoMatchingPlatform {
                digest: descriptor.digest,
            });
        };
        descriptor = serde_json::from_value(platform.clone()).map_err(ImageError::json(
            format!("image index `{}`", descriptor.digest),
        ))?;
        manifest_bytes = read_blob(source, &descriptor.digest)?;
    }
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(ImageError::json(
        format!("manifest `{}`", descriptor.digest),
    ))?;
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        copy_blob(store, source, &blob.digest)?;
    }
    store.put_blob(&manifest_bytes)?;
    descriptor.annotations.clear();
    Ok(descriptor)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn import_docker(
    store: &ImageStore,
    source: &dyn Source,
    manifest: &[u8],
    source_ref: Option<&str>,
) -> Result<Descriptor, ImageError> {
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(manifest).map_err(ImageError::json("`manifest.json`"))?;
    let tags = |e: &DockerEntry| e.repo_tags.clone().unwrap_or_default();
    let matches = |e: &&DockerEntry| match source_ref {
        None => true,
        Some(wanted) => tags(e)
            .iter()
            .any(|t| docker_names(wanted).contains(&docker_names(t)[0])),
    };
    let entry = pick(source, source_ref, entries.iter().filter(matches), |e| {
        tags(e).join(" ")
    })?;
    let config = source
        .read(&entry.config)?
        .ok_or_else(|| missing(source.location(), &entry.config))?;
    let parsed: Value =
        serde_json::from_slice(&config).map_err(ImageError::json(format!("`{}`", entry.config)))?;
    let diff_ids = parsed["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    if diff_ids != entry.layers.len() {
        return Err(ImageError::InvalidImage {
            reason: format!(
                "`{}` lists {} layers but its config has {diff_ids} diff_ids",
                source.location().display(),
                entry.layers.len()
            ),
        });
    }
    let config = Descriptor::new(
        CONFIG_MEDIA_TYPE,
        store.put_blob(&config)?,
        config.len() as u64,
    );
    let mut layers = Vec::new();
    for path in &entry.layers {
        let (digest, size) = store.put_reader(source.require(path)?)?;
        let mut magic = [0u8; 6];
        let read = store.open_blob(&digest)?.read(&mut magic).unwrap_or(0);
        let media_type = match Compression::detect(&magic[..read]) {
            Compression::None => LAYER_MEDIA_TYPE,
            Compression::Gzip => LAYER_GZIP_MEDIA_TYPE,
            Compression::Zstd => LAYER_ZSTD_MEDIA_TYPE,
            other => return Err(other.unsupported(path)),
        };
        layers.push(Descriptor::new(media_type, digest, size));
    }
    let manifest = serde_json::to_value(Manifest::new(config, layers))
        .map_err(ImageError::json("a manifest"))?;
    let bytes = canonical_json(&manifest);
    Ok(Descriptor::new(
        MANIFEST_MEDIA_TYPE,
        store.put_blob(&bytes)?,
        bytes.len() as u64,
    ))
}

/// A docker reference in full (`x` is `docker.io/library/x:latest`), then as podman names
/// local images (`localhost/x:latest`), so `RepoTags` match however the caller spells it.
fn docker_names(reference: &str) -> [String; 2] {
    let tagged = match reference
        .rsplit_once('/')
        .map_or(reference, |(_, name)| name)
    {
        name if name.contains(':') || name.contains('@') => reference.to_string(),
        _ => format!("{reference}:latest"),
    };
    let (first, rest) = tagged.split_once('/').unwrap_or(("", &tagged));
    let full = if first.contains(['.', ':']) || first == "localhost" {
        tagged.clone()
    } else if first.is_empty() {
        format!("docker.io/library/{rest}")
    } else {
        format!("docker.io/{tagged}")
    };
    [full, format!("localhost/{tagged}")]
}

/// The one image among `candidates`; `describe` names them when there are several.
fn pick<'a, T>(
    source: &dyn Source,
    source_ref: Option<&str>,
    candidates: impl Iterator<Item = &'a T>,
    describe: impl Fn(&T) -> String,
) -> Result<&'a T, ImageError> {
    let candidates: Vec<&T> = candidates.collect();
    match candidates[..] {
        [one] => Ok(one),
        [] => Err(ImageError::NotFound {
            reference: source_ref.unwrap_or_default().to_string(),
            location: source.location().to_path_buf(),
        }),
        _ => Err(ImageError::AmbiguousImage {
            location: source.location().to_path_buf(),
            candidates: candidates.into_iter().map(describe).collect(),
        }),
    }
}

fn blob_path(digest: &str) -> Result<String, ImageError> {
    Ok(format!("blobs/sha256/{}", digest_hex(digest)?))
}

fn read_blob(source: &dyn Source, digest: &str) -> Result<Vec<u8>, ImageError> {
    let path = blob_path(digest)?;
    let bytes = source
        .read(&path)?
        .ok_or_else(|| missing(source.location(), &path))?;
    let actual = sha256_digest(&bytes);
    if actual != digest {
        return Err(ImageError::CorruptBlob {
            digest: digest.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

fn copy_blob(store: &ImageStore, source: &dyn Source, digest: &str) -> Result<(), ImageError> {
    let path = blob_path(digest)?;
    if store.has_blob(digest) {
        return Ok(());
    }
    let (actual, _) = store.put_reader(source.require(&path)?)?;
    if actual != digest {
        // The bad blob was stored under its real digest; gc takes it away.
        return Err(ImageError::CorruptBlob {
            digest: digest.to_string(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use serde_json::json;

    use super::*;
    use crate::export::{export_oci_archive, export_oci_dir};
    use crate::test_support::{Item, image, layer_from_bytes, raw_tar};
    use crate::unpack::unpack;

    fn tar_of(files: &[(&str, &[u8])], symlinks: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, *data).unwrap();
        }
        for (path, target) in symlinks {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, path, target).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn oci_archive_export_is_reproducible_and_imports_to_the_same_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let layer = layer_from_bytes(&store, &raw_tar(&[Item::File("etc/hello", b"hi")]));
        let original = image(&store, vec![layer], "strata/app:1");
        export_oci_archive(&store, "strata/app:1", &tmp.path().join("one.tar")).unwrap();
        export_oci_archive(&store, "strata/app:1", &tmp.path().join("two.tar")).unwrap();
        let one = fs::read(tmp.path().join("one.tar")).unwrap();
        assert_eq!(one, fs::read(tmp.path().join("two.tar")).unwrap());

        let fresh = ImageStore::open(&tmp.path().join("fresh")).unwrap();
        let imported = import_archive(&fresh, &tmp.path().join("one.tar"), None, "copy").unwrap();
        assert_eq!(
            imported.manifest_descriptor.digest,
            original.manifest_descriptor.digest
        );
        assert_eq!(imported.reference, "copy");
        unpack(&fresh, &imported, &tmp.path().join("rootfs")).unwrap();
        assert_eq!(
            fs::read(tmp.path().join("rootfs/etc/hello")).unwrap(),
            b"hi"
        );

        let missing = import_archive(&fresh, &tmp.path().join("one.tar"), Some("other"), "x");
        assert!(matches!(missing, Err(ImageError::NotFound { .. })));
        assert!(matches!(
            export_oci_archive(&store, "nope", &tmp.path().join("n.tar")),
            Err(ImageError::NotFound { .. })
        ));
    }

    #[test]
    fn oci_dir_export_keeps_other_images_and_imports_back() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let a = image(
            &store,
            vec![layer_from_bytes(&store, &raw_tar(&[Item::File("a", b"a")]))],
            "a",
        );
        let b = image(
            &store,
            vec![layer_from_bytes(&store, &raw_tar(&[Item::File("b", b"b")]))],
            "b",
        );
        let out = tmp.path().join("layout");
        export_oci_dir(&store, "a", &out).unwrap();
        export_oci_dir(&store, "b", &out).unwrap();
        let layout = ImageStore::open(&out).unwrap();
        assert_eq!(layout.list().unwrap().len(), 2);

        let fresh = ImageStore::open(&tmp.path().join("fresh")).unwrap();
        let ambiguous = import_oci_dir(&fresh, &out, None, "x");
        assert!(
            matches!(ambiguous, Err(ImageError::AmbiguousImage { .. })),
            "{ambiguous:?}"
        );
        let got = import_oci_dir(&fresh, &out, Some("b"), "mine").unwrap();
        assert_eq!(got.manifest_descriptor.digest, b.manifest_descriptor.digest);
        assert_ne!(got.manifest_descriptor.digest, a.manifest_descriptor.digest);
    }

    #[test]
    fn image_index_resolves_to_linux_amd64() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let amd = image(
            &store,
            vec![layer_from_bytes(
                &store,
                &raw_tar(&[Item::File("amd", b"1")]),
            )],
            "amd",
        );
        let arm = image(
            &store,
            vec![layer_from_bytes(
                &store,
                &raw_tar(&[Item::File("arm", b"1")]),
            )],
            "arm",
        );
        let entry = |img: &StoredImage, arch: &str| {
            let mut d = serde_json::to_value(&img.manifest_descriptor).unwrap();
            d["annotations"] = json!({});
            d["platform"] = json!({"os": "linux", "architecture": arch});
            d
        };
        let index = canonical_json(&json!({
            "schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [entry(&arm, "arm64"), entry(&amd, "amd64")],
        }));
        let index = Descriptor::new(
            INDEX_MEDIA_TYPE,
            store.put_blob(&index).unwrap(),
            index.len() as u64,
        );
        store.tag("multi", &index).unwrap();

        let fresh = ImageStore::open(&tmp.path().join("fresh")).unwrap();
        let got = import_oci_dir(&fresh, store.dir(), Some("multi"), "picked").unwrap();
        assert_eq!(
            got.manifest_descriptor.digest,
            amd.manifest_descriptor.digest
        );
        assert!(store.list().unwrap().iter().all(|i| i.reference != "multi"));
    }

    #[test]
    fn docker_names_are_normalised() {
        assert_eq!(docker_names("x")[0], "docker.io/library/x:latest");
        assert_eq!(docker_names("x/y:1")[0], "docker.io/x/y:1");
        assert_eq!(docker_names("docker.io/x/y:1")[0], "docker.io/x/y:1");
        assert_eq!(
            docker_names("localhost:5000/x")[0],
            "localhost:5000/x:latest"
        );
        assert_eq!(docker_names("strata/app:1")[1], "localhost/strata/app:1");
    }

    #[test]
    fn docker_archive_is_converted_to_oci() {
        let tmp = tempfile::tempdir().unwrap();
        let layer1 = raw_tar(&[Item::File("one", b"1")]);
        let layer2 = raw_tar(&[Item::File("two", b"2")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &layer2).unwrap();
        let layer2_gz = gz.finish().unwrap();
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Labels": {"x": "y"}},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer1), sha256_digest(&layer2), sha256_digest(&layer1)]},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&json!([{
            "Config": "cfg.json", "RepoTags": ["x:latest"],
            "Layers": ["l1/layer.tar", "l2/layer.tar", "dup/layer.tar"],
        }]))
        .unwrap();
        let archive = tar_of(
            &[
                ("manifest.json", &manifest),
                ("cfg.json", &config),
                ("./l1/layer.tar", &layer1),
                ("l2/layer.tar", &layer2_gz),
            ],
            &[("dup/layer.tar", "../l1/layer.tar")],
        );
        fs::write(tmp.path().join("docker.tar"), &archive).unwrap();

        let store = ImageStore::open(&tmp.path().join("store")).unwrap();
        let image = import_archive(
            &store,
            &tmp.path().join("docker.tar"),
            Some("x"),
            "imported",
        )
        .unwrap();
        assert_eq!(image.manifest.config.digest, sha256_digest(&config));
        let types: Vec<_> = image
            .manifest
            .layers
            .iter()
            .map(|l| l.media_type.as_str())
            .collect();
        assert_eq!(
            types,
            [LAYER_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE, LAYER_MEDIA_TYPE]
        );
        assert_eq!(image.manifest.layers[1].digest, sha256_digest(&layer2_gz));
        assert_eq!(image.labels()["x"], "y");
        unpack(&store, &image, &tmp.path().join("rootfs")).unwrap();
        assert_eq!(fs::read(tmp.path().join("rootfs/two")).unwrap(), b"2");

        let wrong = import_archive(
            &store,
            &tmp.path().join("docker.tar"),
            Some("y"),
            "imported",
        );
        assert!(matches!(wrong, Err(ImageError::NotFound { .. })));
        fs::write(tmp.path().join("junk.tar"), tar_of(&[("hello", b"x")], &[])).unwrap();
        let junk = import_archive(&store, &tmp.path().join("junk.tar"), None, "junk");
        assert!(matches!(junk, Err(ImageError::UnknownArchive { .. })));
    }
}
