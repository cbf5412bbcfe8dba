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

/// What an option of a requirements file does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptionKind {
    /// A flag kept as an entry (`--pre`).
    Flag,
    /// An option with a value kept as an entry (`--index-url URL`).
    Value,
    /// `-r FILE`: the file's entries are inlined.
    Include,
    /// `-c FILE`: refused.
    Constraint,
    /// `-e PATH`: refused.
    Editable,
}

/// The options a requirements file may hold: the names pip accepts, the long name entries are
/// written with, and what the option does.
pub(crate) const OPTIONS: &[(&[&str], &str, OptionKind)] = &[
    (
        &["-r", "--requirement"],
        "--requirement",
        OptionKind::Include,
    ),
    (
        &["-c", "--constraint"],
        "--constraint",
        OptionKind::Constraint,
    ),
    (&["-e", "--editable"], "--editable", OptionKind::Editable),
    (&["-i", "--index-url"], "--index-url", OptionKind::Value),
    (
        &["--extra-index-url"],
        "--extra-index-url",
        OptionKind::Value,
    ),
    (&["-f", "--find-links"], "--find-links", OptionKind::Value),
    (&["--no-index"], "--no-index", OptionKind::Flag),
    (&["--pre"], "--pre", OptionKind::Flag),
    (&["--trusted-host"], "--trusted-host", OptionKind::Value),
    (&["--prefer-binary"], "--prefer-binary", OptionKind::Flag),
    (&["--only-binary"], "--only-binary", OptionKind::Value),
    (&["--no-binary"], "--no-binary", OptionKind::Value),
];

fn unknown_option(name: &str) -> String {
    let supported = OPTIONS
        .iter()
        .filter(|(_, _, kind)| !matches!(kind, OptionKind::Constraint | OptionKind::Editable))
        .map(|(_, long, _)| format!("`{long}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("unknown or unsupported pip option `{name}` (supported: {supported})")
}

/// The path a requirement installs from when it is a local file or directory: `./dist/x.whl`,
/// `/abs/x.whl`, `file:///abs/x.whl`, `name @ file:///abs/x.whl`.
pub(crate) fn local_path(requirement: &str) -> Option<String> {
    let first = requirement.split(';').next().unwrap_or(requirement).trim();
    let target = match first.split_once('@') {
        Some((before, after)) if !before.contains(['/', ':', '\\']) => after.trim(),
        _ => first,
    };
    let lower = target.to_ascii_lowercase();
    if lower.starts_with("file:") {
        let path = &target["file:".len()..];
        let path = path
            .strip_prefix("//localhost")
            .or_else(|| path.strip_prefix("//"))
            .unwrap_or(path);
        return Some(path.to_string());
    }
    if target.contains("://") {
        return None;
    }
    let bytes = target.as_bytes();
    let drive = bytes.len() > 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/');
    let local = drive
        || target.starts_with(['.', '/', '\\', '~'])
        || [".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2"]
            .iter()
            .any(|suffix| lower.ends_with(suffix));
    local.then(|| target.to_string())
}

/// `text` with each `${VAR}` (pip's syntax: upper-case letters, digits and `_`) replaced by `0`,
/// a value that fits wherever a reference can stand in a requirement.
pub(crate) fn substitute_variables(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}');
        match end {
            Some(end)
                if end > 0
                    && after[..end]
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
            {
                out.push_str(&rest[..start]);
                out.push('0');
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What one line of pip input (a requirements-file line, or one entry of a `pip:` list) holds
/// once checked.
#[derive(Debug, Default)]
pub(crate) struct CheckedLine {
    /// The entries to keep, normalised (`--index-url URL`, `six==1.16.0 --hash=sha256:...`).
    pub(crate) entries: Vec<String>,
    /// Files named by `-r`, for a requirements file to inline.
    pub(crate) includes: Vec<String>,
    /// Warnings, without where they were found (the caller adds the file and line).
    pub(crate) warnings: Vec<String>,
}

/// Why a line of pip input was refused; `field` is the requirement when the problem is in it.
#[derive(Debug)]
pub(crate) struct LineError {
    pub(crate) field: Option<String>,
    pub(crate) message: String,
}

impl LineError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

/// The one set of rules for pip input, whatever its source (a requirements file, a conda
/// file's `pip:` section, a v1 or v2 definition, `add-package --pip`): known options only,
/// no editables or constraints, valid requirements, well-formed `strata://wheels/` references,
/// a warning for local paths.
pub(crate) fn check_line(tokens: &[&str]) -> Result<CheckedLine, LineError> {
    let mut checked = CheckedLine::default();
    if tokens.is_empty() {
        return Ok(checked);
    }
    if tokens[0].starts_with('-') {
        check_options(tokens, &mut checked)?;
    } else {
        check_requirement(tokens, &mut checked)?;
    }
    Ok(checked)
}

/// A line of options such as `--index-url URL` or `-r other.txt`.
fn check_options(tokens: &[&str], checked: &mut CheckedLine) -> Result<(), LineError> {
    let mut index = 0;
    while index < tokens.len() {
        let token = tokens[index];
        index += 1;
        if !token.starts_with('-') {
            return Err(LineError::new(format!(
                "unexpected `{token}` after an option (write each requirement on a line of its own)"
            )));
        }
        let (name, inline) = split_option(token);
        let Some(&(_, long, kind)) = OPTIONS.iter().find(|(names, ..)| names.contains(&name))
        else {
            return Err(LineError::new(unknown_option(name)));
        };
        if kind == OptionKind::Flag {
            if inline.is_some() {
                return Err(LineError::new(format!("option `{long}` takes no value")));
            }
            checked.entries.push(long.to_string());
            continue;
        }
        let value = match inline {
            Some(value) if !value.is_empty() => value,
            Some(_) => return Err(LineError::new(format!("option `{long}` needs a value"))),
            None => {
                let Some(value) = tokens.get(index) else {
                    return Err(LineError::new(format!("option `{long}` needs a value")));
                };
                index += 1;
                value
            }
        };
        match kind {
            OptionKind::Flag => {}
            OptionKind::Value => checked.entries.push(format!("{long} {value}")),
            OptionKind::Include => checked.includes.push(value.to_string()),
            OptionKind::Constraint => {
                return Err(LineError::new(
                    "constraints files (`-c`) are not supported in environment definitions; \
                     pin the versions in the requirements file instead",
                ));
            }
            OptionKind::Editable => {
                return Err(LineError::new(format!(
                    "editable installs (`-e`) are not supported in environment definitions; \
                     build a wheel (`pip wheel --no-deps {value}`) and add it with \
                     `strata env add-wheel FILE`"
                )));
            }
        }
    }
    Ok(())
}

/// A requirement, with the `--hash` options that may follow it.
fn check_requirement(tokens: &[&str], checked: &mut CheckedLine) -> Result<(), LineError> {
    let split = tokens
        .iter()
        .position(|token| token.starts_with('-'))
        .unwrap_or(tokens.len());
    let requirement = tokens[..split].join(" ");
    let mut parts = vec![requirement.clone()];
    let mut index = split;
    while index < tokens.len() {
        let (name, inline) = split_option(tokens[index]);
        index += 1;
        if name != "--hash" {
            return Err(LineError::new(format!(
                "option `{name}` cannot follow a requirement (only `--hash` can)"
            )));
        }
        let value = match inline {
            Some(value) => value,
            None => {
                let value = tokens.get(index).copied().unwrap_or_default();
                index += 1;
                value
            }
        };
        if value.is_empty() {
            return Err(LineError::new("option `--hash` needs a value"));
        }
        parts.push(format!("--hash={value}"));
    }
    let text = parts.join(" ");
    let in_requirement = |message: String| LineError {
        field: Some(requirement.clone()),
        message,
    };
    // pip expands `${VAR}` before parsing; the entry keeps the reference, and a stand-in value
    // is what gets checked.
    match PipEntry::classify(&substitute_variables(&text)) {
        Ok(PipEntry::Requirement { .. }) => {}
        Ok(_) => return Err(LineError::new("expected a requirement")),
        Err(SpecError::InvalidRequirement { reason, .. }) => return Err(in_requirement(reason)),
        Err(error) => return Err(in_requirement(error.to_string())),
    }
    if let Some(reference) = wheel_reference(&requirement) {
        check_wheel_reference(reference).map_err(in_requirement)?;
    }
    if let Some(path) = local_path(&requirement) {
        let advice = if path.to_ascii_lowercase().ends_with(".whl") {
            format!("store the wheel with `strata env add-wheel {path}`")
        } else {
            format!(
                "build a wheel (`pip wheel --no-deps {path}`) and store it with `strata env add-wheel FILE`"
            )
        };
        checked.warnings.push(format!(
            "`{requirement}` is a local path; local files are not stored with the environment, so it will not install anywhere else: {advice}"
        ));
    }
    checked.entries.push(text);
    Ok(())
}

/// The scheme of the references `strata env add-wheel` prints.
pub(crate) const WHEEL_SCHEME: &str = "strata://";

/// The `strata://...` reference a requirement installs from (`strata://wheels/...` or
/// `name @ strata://wheels/...`), if any.
pub(crate) fn wheel_reference(requirement: &str) -> Option<&str> {
    let first = requirement.split(';').next().unwrap_or(requirement).trim();
    let target = match first.split_once(" @ ") {
        Some((_, after)) => after.trim(),
        None => first,
    };
    target
        .get(..WHEEL_SCHEME.len())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(WHEEL_SCHEME))
        .then_some(target)
}

/// `strata://wheels/<sha256>/<file>.whl`, nothing else: 64 lower-case hex digits and one file
/// name (no `/`, `..` or `\`). Returns the digest.
pub(crate) fn check_wheel_reference(reference: &str) -> Result<&str, String> {
    let expected = "expected `strata://wheels/<sha256>/<file>.whl`, the reference `strata env add-wheel` prints";
    let rest = reference
        .strip_prefix("strata://wheels/")
        .ok_or_else(|| expected.to_string())?;
    let (digest, file) = rest.split_once('/').ok_or_else(|| expected.to_string())?;
    if digest.len() != 64
        || !digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "{expected}: `{digest}` is not a sha256 digest (64 lower-case hex digits)"
        ));
    }
    if file.is_empty()
        || file.contains(['/', '\\', '?', '#'])
        || file.starts_with('.')
        || !file.to_ascii_lowercase().ends_with(".whl")
    {
        return Err(format!("{expected}: `{file}` is not a wheel file name"));
    }
    Ok(digest)
}

/// `--name=value` and `-xvalue` split into the option name and its attached value.
pub(crate) fn split_option(token: &str) -> (&str, Option<&str>) {
    if token.starts_with("--") {
        match token.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (token, None),
        }
    } else if token.len() > 2 && token.is_char_boundary(2) {
        (&token[..2], Some(&token[2..]))
    } else {
        (token, None)
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
