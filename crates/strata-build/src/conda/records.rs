//! Between rattler's `RepoDataRecord` and the lock's `CondaLockedPackage`.

use rattler_conda_types::{NoArchKind, RepoDataRecord};
use serde_json::{Map, Value, json};
use strata_spec::CondaLockedPackage;

use super::CondaError;
use super::channel::{ResolvedChannel, channel_of_url};

/// The locked form of a solved record. `channels` are the request's, so the lock names the
/// channel as the definition does.
pub(crate) fn to_locked(
    record: &RepoDataRecord,
    channels: &[ResolvedChannel],
) -> CondaLockedPackage {
    let package = &record.package_record;
    let url = record.url.to_string();
    let channel = channel_of_url(channels, &url)
        .map(|channel| channel.given.clone())
        .or_else(|| record.channel.clone())
        .unwrap_or_default();
    CondaLockedPackage {
        name: package.name.as_normalized().to_string(),
        version: package.version.to_string(),
        build: package.build.as_str().to_string(),
        channel,
        subdir: package.subdir.clone(),
        url,
        sha256: package.sha256.map(hex::encode),
        md5: package.md5.map(hex::encode),
        depends: package.depends.clone(),
        build_number: Some(package.build_number),
        noarch: package.noarch.kind().map(|kind| match kind {
            NoArchKind::Python => "python".to_string(),
            NoArchKind::Generic => "generic".to_string(),
        }),
    }
}

/// Rebuilds the record the installer needs from a locked package. The package file name is
/// the last segment of its URL.
pub(crate) fn from_locked(package: &CondaLockedPackage) -> Result<RepoDataRecord, CondaError> {
    let invalid = |reason: String| CondaError::InvalidLockedPackage {
        package: package.name.clone(),
        reason,
    };
    let url = url::Url::parse(&package.url)
        .map_err(|err| invalid(format!("URL `{}`: {err}", package.url)))?;
    let file_name = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|name| name.ends_with(".conda") || name.ends_with(".tar.bz2"))
        .ok_or_else(|| {
            invalid(format!(
                "URL `{}` does not end in a `.conda` or `.tar.bz2` file name",
                package.url
            ))
        })?
        .to_string();
    // The channel's base URL, as rattler's gateway records it (and `conda-meta` keeps it).
    let channel = package
        .url
        .strip_suffix(&format!("{}/{file_name}", package.subdir))
        .unwrap_or(&package.channel)
        .to_string();

    let mut record = Map::new();
    record.insert("name".into(), json!(package.name));
    record.insert("version".into(), json!(package.version));
    record.insert("build".into(), json!(package.build));
    record.insert(
        "build_number".into(),
        json!(package.build_number.unwrap_or(0)),
    );
    record.insert("depends".into(), json!(package.depends));
    record.insert("subdir".into(), json!(package.subdir));
    if let Some(noarch) = &package.noarch {
        record.insert("noarch".into(), json!(noarch));
    }
    if let Some(sha256) = &package.sha256 {
        record.insert("sha256".into(), json!(sha256));
    }
    if let Some(md5) = &package.md5 {
        record.insert("md5".into(), json!(md5));
    }
    record.insert("fn".into(), json!(file_name));
    record.insert("url".into(), json!(package.url));
    record.insert("channel".into(), json!(channel));
    serde_json::from_value(Value::Object(record)).map_err(|err| invalid(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conda::channel::resolve_channels;

    fn locked() -> CondaLockedPackage {
        CondaLockedPackage {
            name: "six".to_string(),
            version: "1.16.0".to_string(),
            build: "pyhd8ed1ab_0".to_string(),
            channel: "conda-forge".to_string(),
            subdir: "noarch".to_string(),
            url: "https://conda.anaconda.org/conda-forge/noarch/six-1.16.0-pyhd8ed1ab_0.conda"
                .to_string(),
            sha256: Some("0".repeat(64)),
            md5: Some("1".repeat(32)),
            depends: vec!["python".to_string()],
            build_number: Some(0),
            noarch: Some("python".to_string()),
        }
    }

    #[test]
    fn a_locked_package_round_trips_through_a_record() {
        let record = from_locked(&locked()).unwrap();
        assert_eq!(
            record.identifier.to_string(),
            "six-1.16.0-pyhd8ed1ab_0.conda"
        );
        assert_eq!(
            record.channel.as_deref(),
            Some("https://conda.anaconda.org/conda-forge/")
        );
        assert!(record.package_record.noarch.is_python());
        let channels = resolve_channels(&["conda-forge".to_string()]).unwrap();
        assert_eq!(to_locked(&record, &channels), locked());
    }

    #[test]
    fn a_url_without_a_package_file_name_is_rejected() {
        let mut package = locked();
        package.url = "https://example.org/six".to_string();
        let err = from_locked(&package).unwrap_err();
        assert!(matches!(err, CondaError::InvalidLockedPackage { .. }));
        assert!(
            err.to_string()
                .starts_with("Invalid locked conda package `six`: URL")
        );
        package.url = "not a url".to_string();
        assert!(from_locked(&package).is_err());
        package = locked();
        package.sha256 = Some("xyz".to_string());
        assert!(from_locked(&package).is_err());
    }
}
