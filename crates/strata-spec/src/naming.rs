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

/// `name` or `name:version`, as users write environment references on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRef {
    pub name: String,
    pub version: Option<u64>,
}

impl FromStr for EnvironmentRef {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, version) = match text.rsplit_once(':') {
            Some((name, version)) => {
                let version = version
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| SpecError::InvalidReference {
                        reference: text.to_string(),
                        reason: format!("the version `{version}` is not a positive integer"),
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
        match self.version {
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
        assert_eq!((r.name.as_str(), r.version), ("myenv", Some(2)));
        assert_eq!("myenv".parse::<EnvironmentRef>().unwrap().version, None);
        assert!("myenv:x".parse::<EnvironmentRef>().is_err());
        assert!("my env".parse::<EnvironmentRef>().is_err());
    }
}
