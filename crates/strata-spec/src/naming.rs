use std::fmt;
use std::str::FromStr;

use crate::error::SpecError;

/// Prefixes reserved for curated environments, compared without case.
pub(crate) const RESERVED_PREFIXES: [&str; 2] = ["strata-", "azureml-"];

/// Checks a user-chosen environment name: Azure ML's asset-name rule, and no reserved prefix.
pub fn validate_name(name: &str) -> Result<(), SpecError> {
    check_syntax(name)?;
    let lower = name.to_ascii_lowercase();
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| lower.starts_with(*p)) {
        return Err(SpecError::InvalidName {
            name: name.to_string(),
            reason: format!(
                "names starting with `{}` are reserved for curated environments; to change a curated environment, copy it under a new name (`strata env copy Strata-Tutorial my-tutorial`)",
                &name[..prefix.len()]
            ),
        });
    }
    Ok(())
}

/// `^[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}$`, the rule Azure ML applies to asset names.
pub(crate) fn check_syntax(name: &str) -> Result<(), SpecError> {
    let invalid = |reason: &str| SpecError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err(invalid("it must start with a letter or a digit"));
        }
        Some(_) => {}
    }
    if name.len() > 255 {
        return Err(invalid("it is longer than 255 characters"));
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || "-._".contains(*c))) {
        return Err(invalid(&format!(
            "`{c}` is not allowed (use letters, digits, `-`, `_` and `.`)"
        )));
    }
    Ok(())
}

/// An environment version. Azure ML's versions are strings (`1`, `22.02-py3`); the ones Strata
/// assigns are the positive integers 1, 2, ... In JSON an integer version is a number (as
/// Strata has always written it) and any other version a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvironmentVersion(String);

impl EnvironmentVersion {
    /// A version written by a user: Azure ML's asset-name characters (letters, digits, `-`,
    /// `_`, `.`), starting with a letter or a digit.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let invalid = |reason: String| SpecError::InvalidVersion {
            version: text.to_string(),
            reason,
        };
        let mut chars = text.chars();
        match chars.next() {
            None => return Err(invalid("it is empty".to_string())),
            Some(c) if !c.is_ascii_alphanumeric() => {
                return Err(invalid(
                    "it must start with a letter or a digit".to_string(),
                ));
            }
            Some(_) => {}
        }
        if text.len() > 255 {
            return Err(invalid("it is longer than 255 characters".to_string()));
        }
        if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || "-._".contains(*c))) {
            return Err(invalid(format!(
                "`{c}` is not allowed (use letters, digits, `-`, `_` and `.`)"
            )));
        }
        Ok(Self(text.to_string()))
    }

    /// An automatic version.
    pub fn number(number: u64) -> Self {
        Self(number.to_string())
    }

    /// A version read back from the workspace, valid when it was stored.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The version as a positive integer when it is written as one (`7`, not `07` or `7.0`):
    /// the versions automatic numbering counts from.
    pub fn as_number(&self) -> Option<u64> {
        let canonical = !self.0.starts_with('0') && self.0.bytes().all(|b| b.is_ascii_digit());
        canonical.then(|| self.0.parse().ok()).flatten()
    }
}

impl fmt::Display for EnvironmentVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EnvironmentVersion {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl PartialEq<str> for EnvironmentVersion {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for EnvironmentVersion {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl serde::Serialize for EnvironmentVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.as_number() {
            Some(number) => serializer.serialize_u64(number),
            None => serializer.serialize_str(&self.0),
        }
    }
}

impl<'de> serde::Deserialize<'de> for EnvironmentVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged, expecting = "a version: a string or a positive integer")]
        enum Either {
            Number(u64),
            String(String),
        }
        match Either::deserialize(deserializer)? {
            Either::Number(number) => Ok(Self::number(number)),
            Either::String(text) => Self::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

// By hand, like its serde impls: an integer version is a number in JSON, any other a string.
impl schemars::JsonSchema for EnvironmentVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EnvironmentVersion".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An environment version: a positive integer (those Strata assigns) or Azure ML's version text",
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"}
            ]
        })
    }
}

/// `name` or `name:version`, as users write environment references on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRef {
    pub name: String,
    pub version: Option<EnvironmentVersion>,
}

impl FromStr for EnvironmentRef {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, version) = match text.rsplit_once(':') {
            Some((name, version)) => {
                let version = EnvironmentVersion::parse(version).map_err(|error| {
                    SpecError::InvalidReference {
                        reference: text.to_string(),
                        reason: match error {
                            SpecError::InvalidVersion { version, reason } => {
                                format!("the version `{version}` is not valid: {reason}")
                            }
                            other => other.to_string(),
                        },
                    }
                })?;
                (name, Some(version))
            }
            None => (text, None),
        };
        check_syntax(name)?;
        Ok(Self {
            name: name.to_string(),
            version,
        })
    }
}

impl fmt::Display for EnvironmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(version) => write!(f, "{}:{version}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_prefixes_are_refused_in_any_case() {
        for name in ["Strata-Mine", "STRATA-x", "azureml-foo", "AzureML-Tutorial"] {
            assert!(validate_name(name).is_err(), "{name}");
        }
        assert!(validate_name("stratagem").is_ok());
    }

    #[test]
    fn parses_references() {
        let r: EnvironmentRef = "myenv:2".parse().unwrap();
        assert_eq!(r.name, "myenv");
        assert_eq!(r.version, Some(EnvironmentVersion::number(2)));
        assert_eq!("myenv".parse::<EnvironmentRef>().unwrap().version, None);
        // Azure ML v2 versions are strings.
        let r: EnvironmentRef = "nvidia:22.02-py3".parse().unwrap();
        assert_eq!(r.version.unwrap().as_str(), "22.02-py3");
        assert!("myenv:".parse::<EnvironmentRef>().is_err());
        assert!("myenv:a b".parse::<EnvironmentRef>().is_err());
        assert!("my env".parse::<EnvironmentRef>().is_err());
    }

    #[test]
    fn integer_versions_are_numbers() {
        assert_eq!(EnvironmentVersion::number(7).as_number(), Some(7));
        for text in ["07", "7.0", "0", "22.02-py3", "v7"] {
            assert_eq!(
                EnvironmentVersion::parse(text).unwrap().as_number(),
                None,
                "{text}"
            );
        }
        let json = serde_json::to_string(&[
            EnvironmentVersion::number(3),
            EnvironmentVersion::parse("1.0").unwrap(),
        ])
        .unwrap();
        assert_eq!(json, r#"[3,"1.0"]"#);
        let back: Vec<EnvironmentVersion> = serde_json::from_str(&json).unwrap();
        assert_eq!(back[1].as_str(), "1.0");
    }
}
