//! Entries of a pip dependency list: requirements (PEP 508 or URLs), `-`-options, and the
//! blank or comment strings that Azure ML's `from_pip_requirements` copies in verbatim.

use std::str::FromStr;

use crate::error::SpecError;

/// What one string of a `pip:` list means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipEntry {
    /// A package to install; `name` is normalised (PEP 503) when it can be known.
    Requirement { name: Option<String>, text: String },
    /// A pip option such as `--extra-index-url URL`; applies to the whole list.
    Option(String),
    /// A blank line or a comment: not a package.
    Ignored,
}

impl PipEntry {
    pub fn classify(entry: &str) -> Result<Self, SpecError> {
        let text = strip_comment(entry).trim();
        if text.is_empty() {
            return Ok(Self::Ignored);
        }
        if text.starts_with('-') {
            return Ok(Self::Option(normalize_whitespace(text)));
        }
        let requirement = text
            .split_whitespace()
            .take_while(|token| !token.starts_with("--hash"))
            .collect::<Vec<_>>()
            .join(" ");
        let name = requirement_name(&requirement)?;
        Ok(Self::Requirement {
            name,
            text: normalize_whitespace(text),
        })
    }

    pub fn is_package(&self) -> bool {
        matches!(self, Self::Requirement { .. })
    }
}

/// The form of a requirement the spec hash uses: no whitespace in the requirement itself
/// (`numpy == 1.26` and `numpy==1.26` install the same), markers with whitespace collapsed.
pub(crate) fn canonical_requirement(text: &str) -> String {
    let (requirement, marker) = match text.split_once(';') {
        Some((requirement, marker)) => (requirement, Some(marker)),
        None => (text, None),
    };
    let mut out: String = requirement.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(marker) = marker {
        out.push_str("; ");
        out.push_str(&normalize_whitespace(marker));
    }
    out
}

/// The normalised package name a requirement installs, if it can be known without building.
fn requirement_name(requirement: &str) -> Result<Option<String>, SpecError> {
    if is_bare_url_or_path(requirement) {
        return Ok(name_from_url(requirement).map(|name| normalize_name(&name)));
    }
    match pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement) {
        Ok(parsed) => Ok(Some(normalize_name(parsed.name.as_ref()))),
        Err(error) => Err(SpecError::InvalidRequirement {
            requirement: requirement.to_string(),
            reason: error.message.to_string(),
        }),
    }
}

fn is_bare_url_or_path(text: &str) -> bool {
    let first = text.split(';').next().unwrap_or(text).trim();
    if first.contains(" @ ") || first.contains('@') && !first.contains("://") {
        return false;
    }
    first.contains("://")
        || first.starts_with('.')
        || first.starts_with('/')
        || first.ends_with(".whl")
        || first.ends_with(".tar.gz")
        || first.ends_with(".zip")
}

/// `pkg` from `...#egg=pkg`, a wheel file name or an sdist file name.
pub(crate) fn name_from_url(url: &str) -> Option<String> {
    if let Some((_, fragment)) = url.split_once('#') {
        for part in fragment.split('&') {
            if let Some(egg) = part.strip_prefix("egg=") {
                return Some(egg.split(['[', '=', '<', '>']).next()?.to_string());
            }
        }
    }
    let path = url.split(['#', '?']).next()?;
    let file = path.rsplit('/').next()?;
    if let Some(stem) = file.strip_suffix(".whl") {
        return stem.split('-').next().map(str::to_string);
    }
    for suffix in [".tar.gz", ".zip", ".tar.bz2"] {
        if let Some(stem) = file.strip_suffix(suffix) {
            return stem.rsplit_once('-').map(|(name, _)| name.to_string());
        }
    }
    None
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_` and `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Drops a `#` comment: a whole-line comment, or one that follows whitespace (pip's rule, so
/// `https://host/x.whl#sha256=...` keeps its fragment).
pub(crate) fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    let bytes = line.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'#' && index > 0 && bytes[index - 1].is_ascii_whitespace() {
            return &line[..index];
        }
    }
    line
}

fn normalize_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(entry: &str) -> Option<String> {
        match PipEntry::classify(entry).unwrap() {
            PipEntry::Requirement { name, .. } => name,
            other => panic!("{entry} classified as {other:?}"),
        }
    }

    #[test]
    fn classifies_entries() {
        assert_eq!(PipEntry::classify("").unwrap(), PipEntry::Ignored);
        assert_eq!(
            PipEntry::classify("# training deps").unwrap(),
            PipEntry::Ignored
        );
        assert_eq!(
            PipEntry::classify("--extra-index-url   https://example.org/simple").unwrap(),
            PipEntry::Option("--extra-index-url https://example.org/simple".to_string())
        );
        assert_eq!(name("Scikit_Learn>=1.3"), Some("scikit-learn".to_string()));
        assert_eq!(
            name("requests  # trailing comment"),
            Some("requests".to_string())
        );
        assert_eq!(
            name("requests[socks]>=2; python_version >= '3.8'"),
            Some("requests".to_string())
        );
        assert_eq!(
            name("git+https://github.com/example/pkg.git@v1.0#egg=pkg"),
            Some("pkg".to_string())
        );
        assert_eq!(
            name("strata://wheels/ab12/my_pkg-0.1-py3-none-any.whl"),
            Some("my-pkg".to_string())
        );
        assert_eq!(
            name("pkg @ https://host/pkg-1.0.tar.gz"),
            Some("pkg".to_string())
        );
        assert_eq!(
            name("six==1.16.0 --hash=sha256:abc"),
            Some("six".to_string())
        );
    }

    #[test]
    fn rejects_bad_specifiers() {
        let error = PipEntry::classify("numpy=>1.2").unwrap_err();
        assert!(error.to_string().contains("numpy=>1.2"), "{error}");
        assert!(PipEntry::classify("numpy==1.2.*.dev-").is_err());
    }
}
