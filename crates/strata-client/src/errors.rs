//! The server's errors back into the [`StoreError`]s a local workspace gives, so commands
//! say the same things whichever store they talk to.

use serde::Deserialize;
use serde_json::Value;
use strata_spec::EnvironmentVersion;
use strata_store::StoreError;

/// Errors of logging in and of the credentials file.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Invalid server URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("No configuration directory: neither `XDG_CONFIG_HOME` nor `HOME` is set")]
    NoConfigDir,
    #[error("Failed to access the credentials file `{}`", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("The credentials file `{}` is not valid TOML", path.display())]
    Parse {
        path: std::path::PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("Cannot write the credentials file `{}`", path.display())]
    Serialize {
        path: std::path::PathBuf,
        #[source]
        source: toml::ser::Error,
    },
    #[error(
        "The token is not a Strata token (they start with `strata_pat_` and end with a checksum)"
    )]
    MalformedToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    details: Value,
}

fn text(details: &Value, key: &str) -> String {
    details
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn number(details: &Value, key: &str) -> u64 {
    details.get(key).and_then(Value::as_u64).unwrap_or_default()
}

/// The error a failed response stands for; `server` names the server in messages.
pub(crate) fn from_response(status: u16, body: &[u8], server: &str) -> StoreError {
    let Ok(error) = serde_json::from_slice::<ErrorBody>(body) else {
        let message = format!("HTTP {status} without a Strata error body");
        return if matches!(status, 502..=504) {
            StoreError::Unavailable {
                what: format!("The server `{server}`"),
                message,
            }
        } else {
            StoreError::Backend {
                what: format!("A request to `{server}`"),
                message,
            }
        };
    };
    let d = &error.details;
    let kind = d.get("kind").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "not_found" | "no_lock" => StoreError::NotFound {
            what: text(d, "what"),
        },
        "version_not_found" => StoreError::VersionNotFound {
            name: text(d, "name"),
            version: EnvironmentVersion::from_stored(text(d, "version")),
            latest: EnvironmentVersion::from_stored(text(d, "latest")),
        },
        "version_conflict" => StoreError::VersionConflict {
            name: text(d, "name"),
            version: EnvironmentVersion::from_stored(text(d, "version")),
            existing: text(d, "existing"),
            new: text(d, "new"),
        },
        "lock_differs" => StoreError::LockDiffers {
            name: text(d, "name"),
            version: EnvironmentVersion::from_stored(text(d, "version")),
            here: text(d, "here"),
            there: text(d, "there"),
        },
        "curated" => StoreError::Curated {
            name: text(d, "name"),
        },
        "log_offset" => StoreError::LogOffset {
            run: text(d, "run"),
            offset: number(d, "offset"),
            length: number(d, "length"),
        },
        "missing_blob" => StoreError::MissingBlob {
            what: text(d, "what"),
            digest: text(d, "digest"),
        },
        "precondition_failed" => StoreError::PreconditionFailed {
            what: text(d, "what"),
            expected: text(d, "expected"),
        },
        "forbidden" => StoreError::Forbidden {
            reason: text(d, "reason"),
        },
        "unauthenticated" => StoreError::Unauthenticated {
            reason: text(d, "reason"),
        },
        "corrupt_blob" => StoreError::CorruptBlob {
            digest: text(d, "digest"),
            actual: text(d, "actual"),
        },
        "credentials" => StoreError::Credentials {
            found: d
                .get("found")
                .and_then(Value::as_array)
                .map(|found| {
                    found
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        },
        "invalid_cursor" => StoreError::InvalidCursor {
            cursor: text(d, "cursor"),
        },
        "invalid_reference" => StoreError::InvalidReference {
            reference: text(d, "reference"),
            reason: text(d, "reason"),
        },
        "invalid_model_name" => StoreError::InvalidModelName {
            name: text(d, "name"),
            reason: text(d, "reason"),
        },
        "invalid_label" => StoreError::InvalidLabel {
            label: text(d, "label"),
        },
        "unavailable" => StoreError::Unavailable {
            what: format!("{} (on `{server}`)", text(d, "what")),
            message: "the server cannot reach it; try again later".to_string(),
        },
        _ => match error.code.as_str() {
            "unauthenticated" => StoreError::Unauthenticated {
                reason: error.message,
            },
            "forbidden" => StoreError::Forbidden {
                reason: error.message,
            },
            "unavailable" => StoreError::Unavailable {
                what: format!("The server `{server}`"),
                message: error.message,
            },
            // What the server refused as invalid is the user's to fix, as it would be locally.
            _ if (400..500).contains(&status) => StoreError::Rejected {
                message: error.message,
            },
            _ => StoreError::Backend {
                what: format!("A request to `{server}`"),
                message: format!("{} ({}, HTTP {status})", error.message, error.code),
            },
        },
    }
}

/// A request that got no answer.
pub(crate) fn from_transport(error: &reqwest::Error, server: &str) -> StoreError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    StoreError::Unavailable {
        what: format!("The server `{server}`"),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_the_local_errors() {
        let body = br#"{"code":"conflict","message":"m","details":{"kind":"version_conflict","name":"train","version":"2","existing":"aa","new":"bb"}}"#;
        let error = from_response(409, body, "http://s");
        assert!(matches!(error, StoreError::VersionConflict { ref name, .. } if name == "train"));
        assert!(error.to_string().contains("`train:2`"));
        let body = br#"{"code":"missing_blob","message":"m","details":{"kind":"missing_blob","what":"Run `r`","digest":"ab"}}"#;
        assert!(matches!(
            from_response(409, body, "http://s"),
            StoreError::MissingBlob { .. }
        ));
        assert!(matches!(
            from_response(502, b"<html>bad gateway</html>", "http://s"),
            StoreError::Unavailable { .. }
        ));
        let body = br#"{"code":"internal","message":"Internal server error","details":{}}"#;
        assert!(matches!(
            from_response(500, body, "http://s"),
            StoreError::Backend { .. }
        ));
    }
}
