//! What `strata env search` looks for: a PEP 508 requirement for a PyPI package (`numpy<1.22`,
//! `pypi:pillow`) or a conda match spec (`conda:openssl<3`), names normalised the way each
//! ecosystem compares them.

use std::fmt;
use std::str::FromStr;

use pep508_rs::pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};
use rattler_conda_types::{MatchSpec, PackageNameMatcher, ParseStrictness};
use strata_spec::normalize_name;

use crate::error::InventoryError;

/// Where a package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    Pypi,
    Conda,
}

impl Ecosystem {
    /// The name the lock index uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pypi => strata_store::PYPI,
            Self::Conda => strata_store::CONDA,
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
enum Matcher {
    Pypi(VersionSpecifiers),
    Conda(Box<MatchSpec>),
}

/// A parsed search spec.
#[derive(Debug, Clone)]
pub struct PackageQuery {
    pub ecosystem: Ecosystem,
    /// The normalised name (PEP 503 for PyPI, lower case for conda).
    pub name: String,
    /// The spec as given.
    pub text: String,
    matcher: Matcher,
}

impl PackageQuery {
    /// Parses `[pypi:]REQUIREMENT` or `conda:MATCHSPEC`.
    pub fn parse(text: &str) -> Result<Self, InventoryError> {
        let invalid = |reason: String| InventoryError::InvalidSpec {
            spec: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty".to_string()));
        }
        if let Some(spec) = trimmed.strip_prefix("conda:") {
            let spec = spec.trim();
            let match_spec = MatchSpec::from_str(spec, ParseStrictness::Lenient)
                .map_err(|error| invalid(format!("not a conda match spec ({error})")))?;
            let name = match &match_spec.name {
                PackageNameMatcher::Exact(name) => name.as_normalized().to_string(),
                _ => {
                    return Err(invalid(
                        "the package name must be exact, not a pattern".to_string(),
                    ));
                }
            };
            return Ok(Self {
                ecosystem: Ecosystem::Conda,
                name,
                text: trimmed.to_string(),
                matcher: Matcher::Conda(Box::new(match_spec)),
            });
        }
        let spec = trimmed.strip_prefix("pypi:").unwrap_or(trimmed).trim();
        let requirement = Requirement::<VerbatimUrl>::from_str(spec).map_err(|error| {
            // Where `spec` starts in `text`: both are slices of it.
            let offset = spec.as_ptr() as usize - text.as_ptr() as usize;
            invalid(describe_position(
                &error.message.to_string(),
                text,
                offset + error.start,
                error.len,
            ))
        })?;
        if !requirement.extras.is_empty() {
            return Err(invalid(
                "extras do not change what is locked; search for the package alone".to_string(),
            ));
        }
        if !requirement.marker.is_true() {
            return Err(invalid(
                "environment markers (`; ...`) are not searchable; search for the package alone"
                    .to_string(),
            ));
        }
        let specifiers = match requirement.version_or_url {
            None => VersionSpecifiers::empty(),
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers,
            Some(VersionOrUrl::Url(_)) => {
                return Err(invalid(
                    "a URL names a file, not versions; search by name and version".to_string(),
                ));
            }
        };
        Ok(Self {
            ecosystem: Ecosystem::Pypi,
            name: normalize_name(requirement.name.as_ref()),
            text: trimmed.to_string(),
            matcher: Matcher::Pypi(specifiers),
        })
    }

    /// Whether a locked `version` (and conda `build`) matches.
    pub fn matches(&self, version: &str, build: Option<&str>) -> bool {
        match &self.matcher {
            Matcher::Pypi(specifiers) => {
                if specifiers.is_empty() {
                    return true;
                }
                Version::from_str(version).is_ok_and(|version| specifiers.contains(&version))
            }
            Matcher::Conda(spec) => {
                let version_ok = match &spec.version {
                    None => true,
                    Some(version_spec) => rattler_conda_types::Version::from_str(version)
                        .is_ok_and(|version| version_spec.matches(&version)),
                };
                let build_ok = match (&spec.build, build) {
                    (None, _) => true,
                    (Some(matcher), Some(build)) => matcher.matches(build),
                    (Some(_), None) => false,
                };
                version_ok && build_ok
            }
        }
    }
}

/// `"<message> at character N (`c`)"` (or `characters N-M (`text`)` for a longer span),
/// counting characters of the text as typed from 1.
fn describe_position(message: &str, text: &str, start: usize, len: usize) -> String {
    let message = message.trim_end_matches('.');
    let (Some(prefix), Some(rest)) = (text.get(..start), text.get(start..)) else {
        return message.to_string();
    };
    let first = prefix.chars().count() + 1;
    let span: String = rest.chars().take(len.max(1)).collect();
    match span.chars().count() {
        0 => format!("{message} at the end"),
        1 => format!("{message} at character {first} (`{span}`)"),
        count => format!(
            "{message} at characters {first}-{} (`{span}`)",
            first + count - 1
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypi_specs_use_pep_440_and_pep_503() {
        let query = PackageQuery::parse("Pillow_SIMD<1.10").unwrap();
        assert_eq!(query.name, "pillow-simd");
        assert!(query.matches("1.9", None));
        assert!(!query.matches("1.10", None), "1.10 is above 1.9");
        assert!(!query.matches("1.10.0", None));
        assert!(
            !query.matches("1.10.0rc1", None),
            "`<1.10` excludes pre-releases of 1.10"
        );
        let epoch = PackageQuery::parse("pypi:pkg<2").unwrap();
        assert!(
            !epoch.matches("1!1.0", None),
            "an epoch sorts above every plain version"
        );
        let post = PackageQuery::parse("pkg<=1.0").unwrap();
        assert!(!post.matches("1.0.post1", None));
        assert!(
            PackageQuery::parse("pillow")
                .unwrap()
                .matches("anything", None)
        );
    }

    #[test]
    fn conda_specs_use_match_specs() {
        let query = PackageQuery::parse("conda:OpenSSL<3").unwrap();
        assert_eq!(
            (query.ecosystem, query.name.as_str()),
            (Ecosystem::Conda, "openssl")
        );
        assert!(query.matches("1.1.1w", Some("hd590300_0")));
        assert!(!query.matches("3.0.12", Some("h0_0")));
        let build = PackageQuery::parse("conda:mat-app 1.2.* h0_1").unwrap();
        assert!(build.matches("1.2.3", Some("h0_1")));
        assert!(!build.matches("1.2.3", Some("h0_2")));
    }

    #[test]
    fn bad_specs_name_the_character() {
        let message = |spec: &str| PackageQuery::parse(spec).unwrap_err().to_string();
        assert!(
            message("numpy<<1.22").ends_with("at characters 6-11 (`<<1.22`)"),
            "{}",
            message("numpy<<1.22")
        );
        assert!(message("pypi:numpy<<1.22").ends_with("at characters 11-16 (`<<1.22`)"));
        assert!(message("numpy>=1.2$").contains("found `$`"));
        assert!(message("num py").ends_with("found `p` at character 5 (`p`)"));
        assert!(PackageQuery::parse("conda:numpy[").is_err());
        assert!(PackageQuery::parse("numpy[extra]").is_err());
        assert!(PackageQuery::parse("").is_err());
    }
}
