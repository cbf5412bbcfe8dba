//! SBOMs of a lock: CycloneDX 1.5 and SPDX 2.3 JSON, with package URLs, hashes, the Python
//! version, the platform and the base image digest. Deterministic: the same lock record gives
//! the same bytes (components sorted by package URL, ids and the serial number derived from
//! the lock hash, the only time the lock's own creation time).

use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use strata_spec::{Lock, PypiSource, normalize_name};

mod cyclonedx;
mod spdx;

/// The SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    /// CycloneDX 1.5 JSON.
    CycloneDx,
    /// SPDX 2.3 JSON.
    Spdx,
}

impl fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CycloneDx => "cyclonedx",
            Self::Spdx => "spdx",
        })
    }
}

/// What an SBOM describes.
#[derive(Debug, Clone, Copy)]
pub struct SbomInput<'a> {
    pub env_name: &'a str,
    pub env_version: &'a strata_spec::EnvironmentVersion,
    pub lock_hash: &'a str,
    pub lock: &'a Lock,
    /// When the lock was stored (ms since the epoch): the SBOM's creation time.
    pub locked_at: i64,
    /// The version of Strata writing it.
    pub tool_version: &'a str,
}

/// Renders an SBOM as pretty JSON with a final newline.
pub fn render_sbom(input: &SbomInput<'_>, format: SbomFormat) -> String {
    let value = match format {
        SbomFormat::CycloneDx => cyclonedx::document(input),
        SbomFormat::Spdx => spdx::document(input),
    };
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// One package of the lock, in the form both formats need.
struct Component {
    ecosystem: &'static str,
    name: String,
    version: String,
    purl: String,
    /// `(algorithm as CycloneDX names it, hex)`.
    hashes: Vec<(&'static str, String)>,
    /// Where the file comes from, when the lock knows the file.
    download: Option<String>,
    /// Extra facts: `(name, value)`.
    properties: Vec<(&'static str, String)>,
}

fn components(lock: &Lock) -> Vec<Component> {
    let mut components = Vec::new();
    for package in &lock.conda {
        let name = package.name.to_ascii_lowercase();
        let kind = if package.url.ends_with(".tar.bz2") {
            "tar.bz2"
        } else {
            "conda"
        };
        let purl = format!(
            "pkg:conda/{}@{}?build={}&channel={}&subdir={}&type={kind}",
            encode(&name, false),
            encode(&package.version, false),
            encode(&package.build, true),
            encode(&package.channel, true),
            encode(&package.subdir, true),
        );
        let mut hashes = Vec::new();
        if let Some(sha256) = &package.sha256 {
            hashes.push(("SHA-256", sha256.clone()));
        }
        if let Some(md5) = &package.md5 {
            hashes.push(("MD5", md5.clone()));
        }
        components.push(Component {
            ecosystem: "conda",
            name,
            version: package.version.clone(),
            purl,
            hashes,
            download: Some(package.url.clone()),
            properties: vec![
                ("strata:conda:build", package.build.clone()),
                ("strata:conda:channel", package.channel.clone()),
                ("strata:conda:subdir", package.subdir.clone()),
            ],
        });
    }
    for package in &lock.pypi {
        let name = normalize_name(&package.name);
        let mut hashes: Vec<(&'static str, String)> = package
            .hashes
            .iter()
            .map(|hash| ("SHA-256", hash.trim_start_matches("sha256:").to_string()))
            .collect();
        hashes.sort();
        let (download, source) = match &package.source {
            PypiSource::Index { url } => (None, ("strata:pypi:index", url.clone())),
            PypiSource::Url { url } => (Some(url.clone()), ("strata:pypi:url", url.clone())),
            PypiSource::Wheel { uri } => (None, ("strata:pypi:wheel", uri.clone())),
        };
        components.push(Component {
            ecosystem: "pypi",
            purl: format!(
                "pkg:pypi/{}@{}",
                encode(&name, false),
                encode(&package.version, false)
            ),
            name,
            version: package.version.clone(),
            hashes,
            download,
            properties: vec![source],
        });
    }
    if let Some(user_managed) = &lock.user_managed {
        for line in &user_managed.freeze {
            if let Some((name, version)) = line.split_once("==") {
                let (name, version) = (normalize_name(name.trim()), version.trim().to_string());
                components.push(Component {
                    ecosystem: "pypi",
                    purl: format!(
                        "pkg:pypi/{}@{}",
                        encode(&name, false),
                        encode(&version, false)
                    ),
                    name,
                    version,
                    hashes: Vec::new(),
                    download: None,
                    properties: vec![("strata:pypi:freeze", line.clone())],
                });
            }
        }
    }
    if let Some(base) = &lock.base_image {
        let repository = base.reference.split('@').next().unwrap_or(&base.reference);
        // A tag after the last `/` is not part of the repository.
        let repository = match repository.rsplit_once(':') {
            Some((head, tag)) if !tag.contains('/') => head,
            _ => repository,
        };
        let name = repository
            .rsplit('/')
            .next()
            .unwrap_or(repository)
            .to_string();
        components.push(Component {
            ecosystem: "oci",
            purl: format!(
                "pkg:oci/{}@{}?repository_url={}",
                encode(&name, false),
                encode(&base.digest, false),
                encode(repository, true)
            ),
            name,
            version: base.digest.clone(),
            hashes: base
                .digest
                .strip_prefix("sha256:")
                .map(|hex| vec![("SHA-256", hex.to_string())])
                .unwrap_or_default(),
            download: None,
            properties: vec![("strata:base-image", base.reference.clone())],
        });
    }
    components.sort_by(|a, b| a.purl.cmp(&b.purl));
    components.dedup_by(|a, b| a.purl == b.purl);
    components
}

/// Facts about the environment as a whole: `(name, value)`, in a fixed order.
fn environment_properties(input: &SbomInput<'_>) -> Vec<(&'static str, String)> {
    let mut properties = vec![
        ("strata:lock-hash", input.lock_hash.to_string()),
        ("strata:platform", input.lock.platform.clone()),
    ];
    if let Some(python) = &input.lock.python {
        properties.push(("strata:python", python.version.clone()));
        let source = match python.source {
            strata_spec::PythonSource::Conda => "conda",
            strata_spec::PythonSource::System => "system",
        };
        properties.push(("strata:python-source", source.to_string()));
    }
    if let Some(user_managed) = &input.lock.user_managed {
        properties.push(("strata:python", user_managed.python_version.clone()));
        properties.push(("strata:python-source", "user-managed".to_string()));
    }
    if let Some(base) = &input.lock.base_image {
        properties.push(("strata:base-image", base.reference.clone()));
        properties.push(("strata:base-image-digest", base.digest.clone()));
    }
    properties
}

/// A UUID (version 5 layout) derived from the lock hash, the version and the format, so the
/// same lock gets the same serial number.
fn derived_uuid(input: &SbomInput<'_>, format: &str) -> String {
    let digest = Sha256::digest(
        format!(
            "{format}\n{}:{}\n{}",
            input.env_name, input.env_version, input.lock_hash
        )
        .as_bytes(),
    );
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Percent-encodes for a package URL: everything but unreserved characters (and, in
/// qualifier values, `:` and `/`).
fn encode(text: &str, qualifier: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'.' | b'-' | b'_' | b'~')
            || qualifier && matches!(byte, b':' | b'/');
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn properties_json(properties: &[(&'static str, String)]) -> Value {
    Value::Array(
        properties
            .iter()
            .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_are_percent_encoded() {
        assert_eq!(encode("1!2.0+local", false), "1%212.0%2Blocal");
        assert_eq!(
            encode("file:///tmp/my channel", true),
            "file:///tmp/my%20channel"
        );
    }
}
