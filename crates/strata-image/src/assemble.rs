use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::digest::canonical_json;
use crate::error::ImageError;
use crate::layer::Layer;
use crate::manifest::{
    CONFIG_MEDIA_TYPE, Descriptor, EPOCH_RFC3339, MANIFEST_MEDIA_TYPE, Manifest,
    oci_layer_media_type,
};
use crate::store::{ImageStore, StoredImage};

/// What an image adds on top of a base (or on scratch).
#[derive(Default, Clone, Debug)]
pub struct ImageSpec {
    pub layers: Vec<Layer>,
    /// Merged into the base `Env` by key: a known key keeps its place with the new value, new
    /// keys are appended.
    pub env: Vec<(String, String)>,
    /// Merged into the base labels.
    pub labels: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    /// Replaces the base `Cmd`; when set without `entrypoint`, the base `Entrypoint` is cleared.
    pub cmd: Option<Vec<String>>,
    /// Replaces the base `Entrypoint`; when set without `cmd`, the base `Cmd` is cleared (as
    /// Docker does, since a base's arguments rarely suit another entrypoint).
    pub entrypoint: Option<Vec<String>>,
    /// E.g. `5001/tcp`.
    pub exposed_ports: Vec<String>,
    /// `created_by` of the history entry written for each added layer.
    pub history_comment: String,
    /// Used only without a base; empty means `linux`.
    pub os: String,
    /// Used only without a base; empty means `amd64`.
    pub architecture: String,
}

/// Writes the config and manifest blobs (canonical JSON) and tags `reference`. The base config
/// is modified as JSON so fields this crate doesn't know survive. Returns the manifest
/// descriptor.
pub fn assemble(
    store: &ImageStore,
    base: Option<&StoredImage>,
    spec: &ImageSpec,
    reference: &str,
) -> Result<Descriptor, ImageError> {
    let mut config = match base {
        Some(base) => base.config.clone(),
        None => json!({
            "architecture": or_default(&spec.architecture, "amd64"),
            "os": or_default(&spec.os, "linux"),
        }),
    };
    apply(&mut config, spec);
    let config_bytes = canonical_json(&config);
    let config_digest = store.put_blob(&config_bytes)?;
    let config_descriptor =
        Descriptor::new(CONFIG_MEDIA_TYPE, config_digest, config_bytes.len() as u64);

    let base_layers = base.map(|b| b.manifest.layers.clone()).unwrap_or_default();
    let layers = base_layers
        .into_iter()
        .map(|mut layer| {
            layer.media_type = oci_layer_media_type(&layer.media_type).to_string();
            layer
        })
        .chain(spec.layers.iter().map(|l| l.descriptor.clone()))
        .collect();
    let manifest = Manifest::new(config_descriptor, layers);
    let manifest = serde_json::to_value(&manifest).map_err(ImageError::json("a manifest"))?;
    let manifest_bytes = canonical_json(&manifest);
    let digest = store.put_blob(&manifest_bytes)?;
    let descriptor = Descriptor::new(MANIFEST_MEDIA_TYPE, digest, manifest_bytes.len() as u64);
    store.tag(reference, &descriptor)?;
    Ok(descriptor)
}

fn or_default<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() { default } else { value }
}

fn apply(config: &mut Value, spec: &ImageSpec) {
    let root = object(config);
    root.insert("created".into(), EPOCH_RFC3339.into());

    let runtime = object(root.entry("config").or_insert(Value::Null));
    if !spec.env.is_empty() {
        let env = array(runtime.entry("Env").or_insert(Value::Null));
        for (key, value) in &spec.env {
            let line = Value::String(format!("{key}={value}"));
            let prefix = format!("{key}=");
            match env
                .iter_mut()
                .find(|e| e.as_str().is_some_and(|e| e.starts_with(&prefix)))
            {
                Some(existing) => *existing = line,
                None => env.push(line),
            }
        }
    }
    if !spec.labels.is_empty() {
        let labels = object(runtime.entry("Labels").or_insert(Value::Null));
        for (key, value) in &spec.labels {
            labels.insert(key.clone(), value.clone().into());
        }
    }
    if let Some(dir) = &spec.working_dir {
        runtime.insert("WorkingDir".into(), dir.clone().into());
    }
    match (&spec.entrypoint, &spec.cmd) {
        (Some(entrypoint), cmd) => {
            runtime.insert("Entrypoint".into(), entrypoint.clone().into());
            match cmd {
                Some(cmd) => runtime.insert("Cmd".into(), cmd.clone().into()),
                None => runtime.remove("Cmd"),
            };
        }
        (None, Some(cmd)) => {
            runtime.insert("Cmd".into(), cmd.clone().into());
            runtime.remove("Entrypoint");
        }
        (None, None) => {}
    }
    if !spec.exposed_ports.is_empty() {
        let ports = object(runtime.entry("ExposedPorts").or_insert(Value::Null));
        for port in &spec.exposed_ports {
            ports.insert(port.clone(), json!({}));
        }
    }

    let rootfs = object(root.entry("rootfs").or_insert(Value::Null));
    rootfs.insert("type".into(), "layers".into());
    let diff_ids = array(rootfs.entry("diff_ids").or_insert(Value::Null));
    diff_ids.extend(spec.layers.iter().map(|l| Value::String(l.diff_id.clone())));

    let history = array(root.entry("history").or_insert(Value::Null));
    for _ in &spec.layers {
        history.push(json!({"created": EPOCH_RFC3339, "created_by": spec.history_comment}));
    }
}

/// The value as an object, replacing anything else (Docker writes `null` for empty fields).
fn object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    value.as_object_mut().expect("just made an object")
}

fn array(value: &mut Value) -> &mut Vec<Value> {
    if !value.is_array() {
        *value = Value::Array(Vec::new());
    }
    value.as_array_mut().expect("just made an array")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Item, layer_from_bytes, raw_tar};

    fn spec(store: &ImageStore, labels: &[(&str, &str)]) -> ImageSpec {
        let layer = layer_from_bytes(store, &raw_tar(&[Item::File("app/x", b"x")]));
        ImageSpec {
            layers: vec![layer],
            env: vec![("A".into(), "2".into()), ("B".into(), "3".into())],
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            working_dir: Some("/app".into()),
            cmd: Some(vec!["serve".into()]),
            exposed_ports: vec!["5001/tcp".into()],
            history_comment: "strata build".into(),
            ..ImageSpec::default()
        }
    }

    /// A base image whose config has its keys in the given order.
    fn base(store: &ImageStore, labels: &[(&str, &str)], reference: &str) -> StoredImage {
        let mut label_map = Map::new();
        for (k, v) in labels {
            label_map.insert(k.to_string(), Value::from(*v));
        }
        let config = json!({
            "os": "linux", "architecture": "amd64", "variant_unknown_to_us": {"b": 1, "a": 2},
            "config": {
                "Env": ["PATH=/usr/bin", "A=1"], "Entrypoint": ["/bin/sh"], "Labels": label_map,
            },
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        let bytes = serde_json::to_vec(&config).unwrap();
        let digest = store.put_blob(&bytes).unwrap();
        let manifest = Manifest::new(
            Descriptor::new(CONFIG_MEDIA_TYPE, digest, bytes.len() as u64),
            vec![],
        );
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let manifest = Descriptor::new(
            MANIFEST_MEDIA_TYPE,
            store.put_blob(&bytes).unwrap(),
            bytes.len() as u64,
        );
        store.tag(reference, &manifest).unwrap();
        store.lookup(reference).unwrap().unwrap()
    }

    #[test]
    fn same_inputs_give_the_same_manifest_whatever_the_key_order() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let labels = [("org.example.b", "2"), ("org.example.a", "1")];
        let reversed = [labels[1], labels[0]];
        let base_one = base(&store, &labels, "base-one");
        let base_two = base(&store, &reversed, "base-two");
        assert_ne!(
            base_one.manifest_descriptor.digest,
            base_two.manifest_descriptor.digest
        );

        let one = assemble(&store, Some(&base_one), &spec(&store, &labels), "one").unwrap();
        let again = assemble(&store, Some(&base_one), &spec(&store, &labels), "again").unwrap();
        let two = assemble(&store, Some(&base_two), &spec(&store, &reversed), "two").unwrap();
        assert_eq!(one, again);
        assert_eq!(one, two);

        let mut other = spec(&store, &labels);
        other.labels.insert("org.example.c".into(), "3".into());
        assert_ne!(
            assemble(&store, Some(&base_one), &other, "other").unwrap(),
            one
        );
    }

    #[test]
    fn config_merges_onto_the_base() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let base = base(&store, &[("from", "base")], "base");
        let spec = spec(&store, &[("from", "spec"), ("extra", "1")]);
        assemble(&store, Some(&base), &spec, "app").unwrap();
        let image = store.lookup("app").unwrap().unwrap();
        let config = &image.config;
        assert_eq!(
            config["config"]["Env"],
            json!(["PATH=/usr/bin", "A=2", "B=3"])
        );
        assert_eq!(
            image.labels(),
            BTreeMap::from([("extra".into(), "1".into()), ("from".into(), "spec".into())])
        );
        assert_eq!(config["config"]["Cmd"], json!(["serve"]));
        assert!(config["config"].get("Entrypoint").is_none());
        assert_eq!(config["config"]["WorkingDir"], "/app");
        assert_eq!(config["config"]["ExposedPorts"], json!({"5001/tcp": {}}));
        assert_eq!(config["variant_unknown_to_us"], json!({"a": 2, "b": 1}));
        assert_eq!(config["created"], EPOCH_RFC3339);
        assert_eq!(
            config["rootfs"]["diff_ids"],
            json!([spec.layers[0].diff_id])
        );
        assert_eq!(
            config["history"],
            json!([{"created": EPOCH_RFC3339, "created_by": "strata build"}])
        );
        assert_eq!(image.manifest.layers, [spec.layers[0].descriptor.clone()]);
        let stored = store.read_blob(&image.manifest.config.digest).unwrap();
        assert_eq!(stored, canonical_json(config));

        let on_top = ImageSpec {
            layers: spec.layers.clone(),
            ..ImageSpec::default()
        };
        assemble(&store, Some(&image), &on_top, "app2").unwrap();
        let image2 = store.lookup("app2").unwrap().unwrap();
        assert_eq!(image2.manifest.layers.len(), 2);
        assert_eq!(
            image2.config["rootfs"]["diff_ids"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn scratch_images_get_os_and_architecture() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path()).unwrap();
        let spec = ImageSpec {
            os: "linux".into(),
            architecture: "arm64".into(),
            ..ImageSpec::default()
        };
        assemble(&store, None, &spec, "scratch").unwrap();
        let image = store.lookup("scratch").unwrap().unwrap();
        assert_eq!(
            (
                image.config["os"].as_str(),
                image.config["architecture"].as_str()
            ),
            (Some("linux"), Some("arm64"))
        );
    }
}
