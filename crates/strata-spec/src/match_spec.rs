//! Conda match specs (`numpy`, `numpy=1.26`, `conda-forge::numpy >=1.2,<2 py311_0`), checked
//! enough to catch typos early; the solver does the real matching.

use crate::error::SpecError;

/// The parts of a conda match spec that Strata needs before solving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchSpec {
    pub channel: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub build: Option<String>,
}

impl MatchSpec {
    /// The package name, lower-cased, as conda compares names.
    pub fn normalized_name(&self) -> String {
        self.name.to_ascii_lowercase()
    }

    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let invalid = |reason: &str| SpecError::InvalidMatchSpec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let text = spec.trim();
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        if text.contains('[') {
            // Bracket syntax (`numpy[version='>=1.2']`) is kept as written; check the name only.
            let name = text.split('[').next().unwrap_or_default().trim();
            let (channel, name) = split_channel(name);
            check_name(name).map_err(|reason| invalid(&reason))?;
            return Ok(Self {
                channel,
                name: name.to_string(),
                version: None,
                build: None,
            });
        }
        let (channel, rest) = split_channel(text);
        let name_end = rest
            .find(|c: char| c.is_whitespace() || "=<>!~".contains(c))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        check_name(name).map_err(|reason| invalid(&reason))?;
        let rest = rest[name_end..].trim();
        let (version, build) = if rest.is_empty() {
            (None, None)
        } else if rest.starts_with('=') && !rest.starts_with("==") {
            // `name=1.2` or `name=1.2=build`
            let body = &rest[1..];
            if body.starts_with(['<', '>', '!', '~']) {
                return Err(invalid(&format!(
                    "invalid version operator `={}`",
                    &body[..1]
                )));
            }
            match body.split_once('=') {
                Some((version, build)) => (Some(version.trim()), Some(build.trim())),
                None => (Some(body.trim()), None),
            }
        } else {
            let mut parts = rest.split_whitespace();
            let version = parts.next();
            let build = parts.next();
            if parts.next().is_some() {
                return Err(invalid("expected `name [version [build]]`"));
            }
            (version, build)
        };
        if let Some(version) = version {
            check_version(version).map_err(|reason| invalid(&reason))?;
        }
        if let Some(build) = build
            && (build.is_empty()
                || !build
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.*+".contains(c)))
        {
            return Err(invalid(&format!("invalid build string `{build}`")));
        }
        Ok(Self {
            channel,
            name: name.to_string(),
            version: version.map(str::to_string),
            build: build.map(str::to_string),
        })
    }
}

fn split_channel(text: &str) -> (Option<String>, &str) {
    match text.split_once("::") {
        Some((channel, rest)) => (Some(channel.to_string()), rest.trim()),
        None => (None, text),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the package name is missing".to_string());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!("invalid package name `{name}`"));
    }
    Ok(())
}

fn check_version(version: &str) -> Result<(), String> {
    if version.is_empty() {
        return Err("the version after `=` is empty".to_string());
    }
    for constraint in version.split([',', '|']) {
        let constraint = constraint.trim();
        let body = constraint.trim_start_matches(['=', '<', '>', '!', '~']);
        let operator = &constraint[..constraint.len() - body.len()];
        if !matches!(
            operator,
            "" | "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~="
        ) {
            return Err(format!(
                "invalid version operator `{operator}` in `{version}`"
            ));
        }
        if body.is_empty()
            || !body
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._*+!-".contains(c))
        {
            return Err(format!("invalid version `{constraint}`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let spec = MatchSpec::parse("numpy=1.26.4=py311h_0").unwrap();
        assert_eq!(spec.name, "numpy");
        assert_eq!(spec.version.as_deref(), Some("1.26.4"));
        assert_eq!(spec.build.as_deref(), Some("py311h_0"));
        let spec = MatchSpec::parse("conda-forge::scipy >=1.11,<2").unwrap();
        assert_eq!(spec.channel.as_deref(), Some("conda-forge"));
        assert_eq!(spec.version.as_deref(), Some(">=1.11,<2"));
        assert_eq!(MatchSpec::parse("python").unwrap().version, None);
        assert_eq!(
            MatchSpec::parse("pytorch==2.1.0")
                .unwrap()
                .version
                .as_deref(),
            Some("==2.1.0")
        );
        assert_eq!(
            MatchSpec::parse("numpy[version='>=1.2']").unwrap().name,
            "numpy"
        );
    }

    #[test]
    fn rejects_typos() {
        for bad in [
            "",
            "numpy=>1.2",
            "num py=1",
            "numpy=",
            "=1.2",
            "numpy 1.2 b c",
        ] {
            assert!(MatchSpec::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
