//! Conda environment specifications: Azure ML's `conda_dependencies.yml` and conda's own
//! `environment.yml` are the same format.

use indexmap::IndexMap;
use serde_yaml_ng::{Mapping, Value};

use crate::error::{Parsed, Source, SpecError, locate};
use crate::match_spec::MatchSpec;
use crate::pip::{PipEntry, check_line, check_wheel_reference, strip_comment, wheel_reference};

/// The top-level keys conda accepts; anything else is refused, as conda and Azure ML do.
const KEYS: [&str; 5] = ["name", "channels", "dependencies", "prefix", "variables"];

/// One item of `dependencies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CondaDependency {
    /// A conda match spec such as `numpy=1.26`.
    Conda(String),
    /// The `- pip: [...]` item, entries kept as written.
    Pip(Vec<String>),
}

/// A conda environment specification, kept in the order it was written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CondaSpec {
    pub name: Option<String>,
    pub channels: Vec<String>,
    pub dependencies: Vec<CondaDependency>,
    pub prefix: Option<String>,
    pub variables: IndexMap<String, String>,
    /// Top-level keys in file order, so a rewrite keeps the layout.
    pub(crate) key_order: Vec<String>,
}

/// A conda specification plus, while it is unchanged, the exact text it was read from (so
/// comments and layout survive a register and download).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaDependencies {
    pub spec: CondaSpec,
    text: Option<String>,
}

impl CondaDependencies {
    pub fn from_spec(spec: CondaSpec) -> Self {
        Self { spec, text: None }
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, SpecError> {
        Self::parse_with_warnings(text, file).map(|parsed| parsed.value)
    }

    /// Like [`CondaDependencies::parse`], with the warnings about its pip entries (local paths).
    pub fn parse_with_warnings(text: &str, file: &str) -> Result<Parsed<Self>, SpecError> {
        let parsed = CondaSpec::parse_with_warnings(text, file)?;
        Ok(Parsed {
            value: Self {
                spec: parsed.value,
                text: Some(text.to_string()),
            },
            warnings: parsed.warnings,
        })
    }

    /// The text to write: the original when unchanged, otherwise a fresh rendering.
    pub fn to_yaml(&self) -> String {
        match &self.text {
            Some(text) => text.clone(),
            None => self.spec.to_yaml(),
        }
    }

    /// Mutable access; the original text is dropped because it no longer matches.
    pub fn spec_mut(&mut self) -> &mut CondaSpec {
        self.text = None;
        &mut self.spec
    }
}

impl CondaSpec {
    pub fn parse(text: &str, file: &str) -> Result<Self, SpecError> {
        Self::parse_with_warnings(text, file).map(|parsed| parsed.value)
    }

    /// Like [`CondaSpec::parse`], with the warnings about its pip entries (local paths).
    pub fn parse_with_warnings(text: &str, file: &str) -> Result<Parsed<Self>, SpecError> {
        let mut warnings = Vec::new();
        let value = crate::yaml::parse_yaml(text, file)?;
        let invalid = |needle: &str, field: &str, message: String| {
            SpecError::invalid(
                Source::file(file).at(locate(text, needle)).field(field),
                message,
            )
        };
        let mapping = match value {
            Value::Mapping(mapping) => mapping,
            Value::Null => Mapping::new(),
            _ => {
                return Err(SpecError::invalid(
                    Source::file(file),
                    "expected a mapping with `name`, `channels` and `dependencies`",
                ));
            }
        };
        let mut spec = Self::default();
        for (key, value) in mapping {
            let Some(key) = key.as_str().map(str::to_string) else {
                return Err(invalid("", "", format!("non-string key `{key:?}`")));
            };
            let needle = format!("{key}:");
            match key.as_str() {
                "name" => {
                    spec.name = name_or_path(&value).map_err(|m| invalid(&needle, &key, m))?;
                }
                "prefix" => {
                    spec.prefix = name_or_path(&value).map_err(|m| invalid(&needle, &key, m))?;
                }
                "channels" => {
                    spec.channels = string_list(&value).map_err(|m| invalid(&needle, &key, m))?;
                }
                "variables" => {
                    spec.variables = string_map(&value).map_err(|m| invalid(&needle, &key, m))?;
                }
                "dependencies" => {
                    spec.dependencies = dependencies(&value, text, file, &mut warnings)?;
                }
                _ => {
                    return Err(invalid(
                        &needle,
                        &key,
                        format!(
                            "unknown key `{key}` in a conda specification (allowed: {})",
                            KEYS.join(", ")
                        ),
                    ));
                }
            }
            spec.key_order.push(key);
        }
        Ok(Parsed {
            value: spec,
            warnings,
        })
    }

    /// Renders YAML in the layout Azure ML writes (`- item` under a key, pip items indented).
    pub fn to_yaml(&self) -> String {
        let mut mapping = Mapping::new();
        let mut keys: Vec<&str> = self.key_order.iter().map(String::as_str).collect();
        for key in ["name", "channels", "dependencies", "prefix", "variables"] {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        for key in keys {
            let value = match key {
                "name" => self.name.clone().map(Value::String),
                "channels"
                    if !self.channels.is_empty() || self.key_order.iter().any(|k| k == key) =>
                {
                    Some(Value::Sequence(
                        self.channels.iter().cloned().map(Value::String).collect(),
                    ))
                }
                "dependencies" => Some(Value::Sequence(
                    self.dependencies
                        .iter()
                        .map(|dependency| match dependency {
                            CondaDependency::Conda(spec) => Value::String(spec.clone()),
                            CondaDependency::Pip(entries) => {
                                let mut pip = Mapping::new();
                                pip.insert(
                                    Value::String("pip".to_string()),
                                    Value::Sequence(
                                        entries.iter().cloned().map(Value::String).collect(),
                                    ),
                                );
                                Value::Mapping(pip)
                            }
                        })
                        .collect(),
                )),
                "prefix" => self.prefix.clone().map(Value::String),
                "variables" if !self.variables.is_empty() => Some(Value::Mapping(
                    self.variables
                        .iter()
                        .map(|(k, v)| (Value::String(k.clone()), Value::String(v.clone())))
                        .collect(),
                )),
                _ => None,
            };
            if let Some(value) = value {
                mapping.insert(Value::String(key.to_string()), value);
            }
        }
        serde_yaml_ng::to_string(&Value::Mapping(mapping)).unwrap_or_default()
    }

    /// Every conda match spec, in order.
    pub fn conda_packages(&self) -> impl Iterator<Item = &str> {
        self.dependencies
            .iter()
            .filter_map(|dependency| match dependency {
                CondaDependency::Conda(spec) => Some(spec.as_str()),
                CondaDependency::Pip(_) => None,
            })
    }

    /// Every pip entry (packages, options, and ignored strings), in order.
    pub fn pip_entries(&self) -> impl Iterator<Item = &str> {
        self.dependencies
            .iter()
            .filter_map(|dependency| match dependency {
                CondaDependency::Pip(entries) => Some(entries.iter().map(String::as_str)),
                CondaDependency::Conda(_) => None,
            })
            .flatten()
    }

    /// The `python` conda spec, found by name (`python`, not `python-foo`).
    pub fn python_spec(&self) -> Option<MatchSpec> {
        self.conda_packages()
            .filter_map(|spec| MatchSpec::parse(spec).ok())
            .find(|spec| spec.normalized_name() == "python")
    }

    /// Adds a conda package, replacing an entry with the same name in place.
    pub fn add_conda_package(&mut self, spec: &str) -> Result<(), SpecError> {
        let name = MatchSpec::parse(spec)?.normalized_name();
        let existing = self.dependencies.iter().position(|dependency| {
            matches!(dependency, CondaDependency::Conda(s)
                if MatchSpec::parse(s).is_ok_and(|m| m.normalized_name() == name))
        });
        match existing {
            Some(index) => {
                self.dependencies[index] = CondaDependency::Conda(spec.trim().to_string())
            }
            None => self
                .dependencies
                .push(CondaDependency::Conda(spec.trim().to_string())),
        }
        Ok(())
    }

    /// Adds a pip package, removing entries for the same package first (as Azure ML does).
    /// Adds the `pip` conda package and the `pip:` list when they are missing.
    pub fn add_pip_package(&mut self, requirement: &str) -> Result<(), SpecError> {
        let entry = PipEntry::classify(requirement)?;
        check_pip_entry(requirement, true).map_err(|reason| SpecError::InvalidRequirement {
            requirement: requirement.to_string(),
            reason,
        })?;
        let text = match &entry {
            PipEntry::Requirement { text, .. } | PipEntry::Option(text) => text.clone(),
            PipEntry::Ignored => {
                return Err(SpecError::InvalidRequirement {
                    requirement: requirement.to_string(),
                    reason: "it names no package".to_string(),
                });
            }
        };
        let name = match &entry {
            PipEntry::Requirement { name, .. } => name.clone(),
            _ => None,
        };
        if !self
            .conda_packages()
            .any(|s| MatchSpec::parse(s).is_ok_and(|m| m.normalized_name() == "pip"))
            && self.python_spec().is_some()
        {
            let position = self
                .dependencies
                .iter()
                .position(|d| matches!(d, CondaDependency::Pip(_)))
                .unwrap_or(self.dependencies.len());
            self.dependencies
                .insert(position, CondaDependency::Conda("pip".to_string()));
        }
        let mut added = false;
        for dependency in &mut self.dependencies {
            if let CondaDependency::Pip(entries) = dependency {
                if let Some(name) = &name {
                    entries.retain(|existing| !same_pip_package(existing, name));
                }
                if !added {
                    entries.push(text.clone());
                    added = true;
                }
            }
        }
        if !added {
            self.dependencies.push(CondaDependency::Pip(vec![text]));
        }
        Ok(())
    }
}

/// One entry of a `pip:` list, checked by the rules of requirements files; returns its
/// warnings. `-r` cannot include a file here (there is no file to be relative to, and pip
/// would read any path at build time); it is an error when `strict`, else a warning, since
/// Azure ML's `from_pip_requirements` writes such lines and reading must stay lossless.
pub(crate) fn check_pip_entry(entry: &str, strict: bool) -> Result<Vec<String>, String> {
    let tokens: Vec<&str> = strip_comment(entry).split_whitespace().collect();
    let checked = check_line(&tokens).map_err(|error| match error.field {
        Some(field) => format!("`{field}`: {}", error.message),
        None => format!("`{}`: {}", tokens.join(" "), error.message),
    })?;
    let mut warnings = checked.warnings;
    if let Some(include) = checked.includes.first() {
        let message = format!(
            "a `pip:` list cannot include a requirements file (`-r {include}`); list the packages here, or register the file itself with `--requirements FILE`"
        );
        if strict {
            return Err(message);
        }
        warnings.push(format!("{message}; it cannot be registered"));
    }
    Ok(warnings)
}

impl CondaSpec {
    /// Checks every pip entry as registration requires (see [`check_pip_entry`]); `label`
    /// names the definition in the error.
    pub fn check_pip_entries(&self, label: &str) -> Result<(), SpecError> {
        for entry in self.pip_entries() {
            check_pip_entry(entry, true).map_err(|message| {
                SpecError::invalid(Source::file(label).field("dependencies.pip"), message)
            })?;
        }
        Ok(())
    }

    /// The `strata://wheels/...` references of the pip entries, with their digests.
    pub fn wheel_references(&self) -> Vec<(&str, &str)> {
        self.pip_entries()
            .filter_map(|entry| {
                let requirement = strip_comment(entry).trim();
                let requirement = requirement.split(" --hash").next().unwrap_or(requirement);
                let reference = wheel_reference(requirement)?;
                let reference = reference.split_whitespace().next().unwrap_or(reference);
                let digest = check_wheel_reference(reference).ok()?;
                Some((reference, digest))
            })
            .collect()
    }
}

fn same_pip_package(entry: &str, name: &str) -> bool {
    matches!(PipEntry::classify(entry), Ok(PipEntry::Requirement { name: Some(n), .. }) if n == name)
}

fn dependencies(
    value: &Value,
    text: &str,
    file: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<CondaDependency>, SpecError> {
    let Value::Sequence(items) = value else {
        if value.is_null() {
            return Ok(Vec::new());
        }
        return Err(SpecError::invalid(
            Source::file(file)
                .at(locate(text, "dependencies:"))
                .field("dependencies"),
            "expected a list",
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(spec) => {
                MatchSpec::parse(spec).map_err(|error| {
                    SpecError::invalid(
                        Source::file(file)
                            .at(locate(text, spec))
                            .field("dependencies"),
                        error.to_string(),
                    )
                })?;
                out.push(CondaDependency::Conda(spec.clone()));
            }
            Value::Number(number) => {
                return Err(SpecError::invalid(
                    Source::file(file)
                        .at(locate(text, &number.to_string()))
                        .field("dependencies"),
                    format!("expected a package spec, found the number `{number}`"),
                ));
            }
            Value::Mapping(mapping) => {
                for (key, entries) in mapping {
                    if key.as_str() != Some("pip") {
                        return Err(SpecError::invalid(
                            Source::file(file).field("dependencies"),
                            format!(
                                "unsupported dependency section `{key:?}` (only `pip:` is allowed)"
                            ),
                        ));
                    }
                    let entries = string_list(entries).map_err(|message| {
                        SpecError::invalid(
                            Source::file(file)
                                .at(locate(text, "pip:"))
                                .field("dependencies.pip"),
                            message,
                        )
                    })?;
                    for entry in &entries {
                        let location = locate(text, entry.trim());
                        let found = check_pip_entry(entry, false).map_err(|message| {
                            SpecError::invalid(
                                Source::file(file).at(location).field("dependencies.pip"),
                                message,
                            )
                        })?;
                        warnings.extend(found.into_iter().map(|warning| match location {
                            Some(location) => {
                                format!("`{file}` at line {}: {warning}", location.line)
                            }
                            None => format!("`{file}`: {warning}"),
                        }));
                    }
                    out.push(CondaDependency::Pip(entries));
                }
            }
            other => {
                return Err(SpecError::invalid(
                    Source::file(file).field("dependencies"),
                    format!("expected a package spec or `pip:`, found `{other:?}`"),
                ));
            }
        }
    }
    Ok(out)
}

/// `name` and `prefix`: strings only (`name: 12345` is refused, not turned into `"12345"`).
fn name_or_path(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Err(format!(
            "expected a string, found the number `{n}` (quote it)"
        )),
        other => Err(format!("expected a string, found {}", kind(other))),
    }
}

fn optional_string(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(format!("expected a string, found {}", kind(other))),
    }
}

fn string_list(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Null => Ok(String::new()),
                other => Err(format!("expected a list of strings, found {}", kind(other))),
            })
            .collect(),
        other => Err(format!("expected a list, found {}", kind(other))),
    }
}

fn string_map(value: &Value) -> Result<IndexMap<String, String>, String> {
    match value {
        Value::Null => Ok(IndexMap::new()),
        Value::Mapping(mapping) => mapping
            .iter()
            .map(|(k, v)| {
                let key = k
                    .as_str()
                    .ok_or_else(|| "expected string keys".to_string())?;
                let value = optional_string(v)?.unwrap_or_default();
                Ok((key.to_string(), value))
            })
            .collect(),
        other => Err(format!("expected a mapping, found {}", kind(other))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "name: my-env\nchannels:\n- conda-forge\ndependencies:\n- python=3.9.16\n- numpy=1.24\n- pip\n- pip:\n  - azureml-defaults\n  - lightgbm==3.3.5\n";

    #[test]
    fn renders_like_azure_ml() {
        let spec = CondaSpec::parse(SPEC, "environment.yml").unwrap();
        assert_eq!(spec.to_yaml(), SPEC);
        assert_eq!(
            spec.python_spec().unwrap().version.as_deref(),
            Some("3.9.16")
        );
    }

    #[test]
    fn add_packages_replace_same_name() {
        let mut spec = CondaSpec::parse(SPEC, "environment.yml").unwrap();
        spec.add_conda_package("numpy==1.26.4").unwrap();
        spec.add_pip_package("LightGBM>=4").unwrap();
        spec.add_pip_package("pillow").unwrap();
        insta::assert_snapshot!(spec.to_yaml(), @r"
        name: my-env
        channels:
        - conda-forge
        dependencies:
        - python=3.9.16
        - numpy==1.26.4
        - pip
        - pip:
          - azureml-defaults
          - LightGBM>=4
          - pillow
        ");
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let error = CondaSpec::parse("name: x\nfoo: 1\n", "env.yml").unwrap_err();
        insta::assert_snapshot!(error, @"Invalid `env.yml` at line 2, column 1, field `foo`: unknown key `foo` in a conda specification (allowed: name, channels, dependencies, prefix, variables)");
    }

    #[test]
    fn syntax_error_has_a_location() {
        let error = CondaSpec::parse("name: x\ndependencies: [a\n", "env.yml").unwrap_err();
        assert!(
            error.to_string().starts_with("Invalid `env.yml` at line"),
            "{error}"
        );
    }
}

#[cfg(test)]
mod pip_section_tests {
    use super::*;

    fn error(pip: &str) -> String {
        let text = format!("dependencies:\n- python=3.11\n- pip:\n  - {pip}\n");
        CondaSpec::parse(&text, "env.yml").unwrap_err().to_string()
    }

    /// Issue #11, item 5: a conda file's `pip:` section accepted what a requirements file
    /// refuses.
    #[test]
    fn pip_sections_follow_the_rules_of_requirements_files() {
        insta::assert_snapshot!(error("-e ./src/pkg"), @"Invalid `env.yml` at line 4, column 5, field `dependencies.pip`: `-e ./src/pkg`: editable installs (`-e`) are not supported in environment definitions; build a wheel (`pip wheel --no-deps ./src/pkg`) and add it with `strata env add-wheel FILE`");
        insta::assert_snapshot!(error("--constraint c.txt"), @"Invalid `env.yml` at line 4, column 5, field `dependencies.pip`: `--constraint c.txt`: constraints files (`-c`) are not supported in environment definitions; pin the versions in the requirements file instead");
        insta::assert_snapshot!(error("--use-feature=fast-deps"), @"Invalid `env.yml` at line 4, column 5, field `dependencies.pip`: `--use-feature=fast-deps`: unknown or unsupported pip option `--use-feature` (supported: `--requirement`, `--index-url`, `--extra-index-url`, `--find-links`, `--no-index`, `--pre`, `--trusted-host`, `--prefer-binary`, `--only-binary`, `--no-binary`)");
        insta::assert_snapshot!(error("numpy=>1.2"), @r#"Invalid `env.yml` at line 4, column 5, field `dependencies.pip`: `numpy=>1.2`: no such comparison operator "=>", must be one of ~= == != <= >= < > ==="#);
        let digest = "a".repeat(64);
        insta::assert_snapshot!(error(&format!("strata://wheels/{digest}/../../x")), @"Invalid `env.yml` at line 4, column 5, field `dependencies.pip`: `strata://wheels/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/../../x`: expected `strata://wheels/<sha256>/<file>.whl`, the reference `strata env add-wheel` prints: `../../x` is not a wheel file name");
        insta::assert_snapshot!(error("strata://wheels/abc/x-1.0-py3-none-any.whl"), @"Invalid `env.yml` at line 4, column 5, field `dependencies.pip`: `strata://wheels/abc/x-1.0-py3-none-any.whl`: expected `strata://wheels/<sha256>/<file>.whl`, the reference `strata env add-wheel` prints: `abc` is not a sha256 digest (64 lower-case hex digits)");

        // `-r` is read (Azure ML's SDK writes such lines) with a warning, and refused at
        // registration.
        let text = "dependencies:\n- python=3.11\n- pip:\n  - -r /etc/passwd\n  - ./dist/x-1.0-py3-none-any.whl\n";
        let parsed = CondaSpec::parse_with_warnings(text, "env.yml").unwrap();
        insta::assert_debug_snapshot!(parsed.warnings, @r#"
        [
            "`env.yml` at line 4: a `pip:` list cannot include a requirements file (`-r /etc/passwd`); list the packages here, or register the file itself with `--requirements FILE`; it cannot be registered",
            "`env.yml` at line 5: `./dist/x-1.0-py3-none-any.whl` is a local path; local files are not stored with the environment, so it will not install anywhere else: store the wheel with `strata env add-wheel ./dist/x-1.0-py3-none-any.whl`",
        ]
        "#);
        insta::assert_snapshot!(parsed.value.check_pip_entries("env.yml").unwrap_err(), @"Invalid `env.yml`, field `dependencies.pip`: a `pip:` list cannot include a requirements file (`-r /etc/passwd`); list the packages here, or register the file itself with `--requirements FILE`");

        let reference = format!("strata://wheels/{digest}/x-1.0-py3-none-any.whl");
        let text = format!(
            "dependencies:\n- pip:\n  - {reference}\n  - {reference} --hash=sha256:{digest}\n  - six\n"
        );
        let spec = CondaSpec::parse(&text, "env.yml").unwrap();
        spec.check_pip_entries("env.yml").unwrap();
        assert_eq!(
            spec.wheel_references(),
            [
                (reference.as_str(), digest.as_str()),
                (reference.as_str(), digest.as_str())
            ]
        );
    }
}
