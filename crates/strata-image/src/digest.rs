use std::io::{self, Write};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ImageError;

/// `sha256:<hex>` of the bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a well-formed sha256 digest; anything else is refused because digests from
/// foreign archives end up in file names.
pub(crate) fn digest_hex(digest: &str) -> Result<&str, ImageError> {
    digest
        .strip_prefix("sha256:")
        .filter(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
        .ok_or_else(|| ImageError::InvalidDigest {
            digest: digest.to_string(),
        })
}

/// Compact JSON with object keys sorted by bytes at every level. The workspace enables
/// serde_json's `preserve_order`, so plain serialisation would leak insertion order into digests.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Serialising a scalar into a Vec cannot fail.
    serde_json::to_writer(out, value).unwrap_or_default();
}

/// Passes writes through while hashing and counting them.
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    hasher: Sha256,
    pub(crate) size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    pub(crate) fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_nested_keys_whatever_the_insertion_order() {
        let a = serde_json::json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "c": "é\n"}});
        let mut inner = serde_json::Map::new();
        inner.insert("c".into(), "é\n".into());
        inner.insert("z".into(), serde_json::json!([{"x": 2, "y": 1}]));
        let mut outer = serde_json::Map::new();
        outer.insert("a".into(), Value::Object(inner));
        outer.insert("b".into(), 1.into());
        let b = Value::Object(outer);
        assert_ne!(
            serde_json::to_vec(&a).unwrap(),
            serde_json::to_vec(&b).unwrap()
        );
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            String::from_utf8(canonical_json(&a)).unwrap(),
            r#"{"a":{"c":"é\n","z":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn digests_are_validated_before_use_as_file_names() {
        let good = sha256_digest(b"x");
        assert_eq!(digest_hex(&good).unwrap().len(), 64);
        assert!(digest_hex("sha256:../../etc/passwd").is_err());
        assert!(digest_hex("sha512:abc").is_err());
    }
}
