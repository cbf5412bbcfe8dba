use std::fmt;
use std::io;
use std::path::PathBuf;

/// A position in a text file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Where a problem was found: a file (or a label such as `<stored definition>`), and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    pub location: Option<Location>,
    pub field: Option<String>,
}

impl Source {
    pub fn file(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            location: None,
            field: None,
        }
    }

    #[must_use]
    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.file)?;
        if let Some(location) = self.location {
            write!(f, " at {location}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        Ok(())
    }
}

/// Errors raised while reading, validating or writing environment definitions.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("Failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Failed to write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Cannot read `{}`: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("Invalid {origin}: {message}")]
    Invalid { origin: Source, message: String },
    #[error("Directory `{}` already exists (pass `--overwrite` to replace its environment files)", path.display())]
    DirectoryExists { path: PathBuf },
    #[error("`{}` has no `azureml_environment.json`: not an environment directory", path.display())]
    NotAnEnvironmentDirectory { path: PathBuf },
    #[error("Invalid environment name `{name}`: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("Invalid environment version `{version}`: {reason}")]
    InvalidVersion { version: String, reason: String },
    #[error("Invalid environment reference `{reference}`: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("Invalid conda match spec `{spec}`: {reason}")]
    InvalidMatchSpec { spec: String, reason: String },
    #[error("Invalid pip requirement `{requirement}`: {reason}")]
    InvalidRequirement { requirement: String, reason: String },
}

impl SpecError {
    pub(crate) fn invalid(origin: Source, message: impl Into<String>) -> Self {
        Self::Invalid {
            origin,
            message: message.into(),
        }
    }
}

/// A parsed value together with the warnings raised while reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub value: T,
    pub warnings: Vec<String>,
}

impl<T> Parsed<T> {
    pub fn new(value: T) -> Self {
        Self {
            value,
            warnings: Vec::new(),
        }
    }
}

/// 1-based line and column of the first occurrence of `needle` in `text`.
pub(crate) fn locate(text: &str, needle: &str) -> Option<Location> {
    if needle.is_empty() {
        return None;
    }
    let offset = text.find(needle)?;
    Some(location_of_offset(text, offset))
}

pub(crate) fn location_of_offset(text: &str, offset: usize) -> Location {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |s| s.chars().count()) + 1;
    Location { line, column }
}
