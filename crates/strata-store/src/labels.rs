//! Environment labels (Azure ML's `Environment.label`): a name for one version of an
//! environment, such as `production`, moved by labelling another version. Kept in the
//! `settings` table, one row per label (`env-label/<name>/<label>` → version).

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use strata_spec::EnvironmentVersion;

use crate::error::StoreError;
use crate::workspace::Workspace;

const PREFIX: &str = "env-label/";

fn key(name: &str, label: &str) -> String {
    format!("{PREFIX}{name}/{label}")
}

/// A label and the version of its environment it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnvironmentLabel {
    pub label: String,
    pub version: EnvironmentVersion,
}

/// The error of a label that names no version, the same from every store.
pub fn label_not_found(name: &str, label: &str) -> StoreError {
    StoreError::NotFound {
        what: format!("Label `{label}` of environment `{name}`"),
    }
}

/// A label: letters, digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn validate_label(label: &str) -> Result<(), StoreError> {
    let valid = label
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && label.len() <= 255
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidLabel {
            label: label.to_string(),
        })
    }
}

impl Workspace {
    /// Puts labels on a version (it must exist), moving them from any other version.
    pub fn label_environment(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        labels: &[String],
    ) -> Result<(), StoreError> {
        self.get_environment(name, Some(version))?;
        for label in labels {
            validate_label(label)?;
        }
        // One transaction: labels are moved together or not at all.
        let transaction = self
            .connection
            .unchecked_transaction()
            .map_err(StoreError::db("labelling an environment"))?;
        for label in labels {
            transaction
                .execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![key(name, label), version.as_str()],
                )
                .map_err(StoreError::db("labelling an environment"))?;
        }
        transaction
            .commit()
            .map_err(StoreError::db("labelling an environment"))
    }

    /// The version a label names.
    pub fn labelled_version(
        &self,
        name: &str,
        label: &str,
    ) -> Result<EnvironmentVersion, StoreError> {
        let value: Option<String> = self
            .connection
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key(name, label)],
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::db("reading a label"))?;
        value
            .map(EnvironmentVersion::from_stored)
            .ok_or_else(|| label_not_found(name, label))
    }

    /// The labels of an environment's versions: `(label, version)`, sorted by label.
    pub fn environment_labels(
        &self,
        name: &str,
    ) -> Result<Vec<(String, EnvironmentVersion)>, StoreError> {
        let prefix = key(name, "");
        let mut statement = self
            .connection
            .prepare("SELECT key, value FROM settings WHERE key > ?1 AND key < ?2 ORDER BY key")
            .map_err(StoreError::db("listing labels"))?;
        let rows = statement
            .query_map(params![prefix, format!("{prefix}\u{10ffff}")], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(StoreError::db("listing labels"))?;
        let mut labels = Vec::new();
        for row in rows {
            let (key, value) = row.map_err(StoreError::db("listing labels"))?;
            if let Some(label) = key.strip_prefix(&prefix)
                && !label.contains('/')
            {
                labels.push((label.to_string(), EnvironmentVersion::from_stored(value)));
            }
        }
        Ok(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_one_version_and_move() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::init(dir.path()).unwrap();
        let minimal = strata_spec::DEFAULT_ENVIRONMENT;
        let v = EnvironmentVersion::number;
        workspace
            .label_environment(
                minimal,
                &v(1),
                &["production".to_string(), "a.b-c".to_string()],
            )
            .unwrap();
        assert_eq!(
            workspace.labelled_version(minimal, "production").unwrap(),
            v(1)
        );
        assert_eq!(
            workspace.environment_labels(minimal).unwrap(),
            vec![
                ("a.b-c".to_string(), v(1)),
                ("production".to_string(), v(1))
            ]
        );
        assert!(matches!(
            workspace.labelled_version(minimal, "staging"),
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            workspace.label_environment(minimal, &v(9), &["x".to_string()]),
            Err(StoreError::VersionNotFound { .. })
        ));
        assert!(matches!(
            workspace.label_environment(minimal, &v(1), &["bad label".to_string()]),
            Err(StoreError::InvalidLabel { .. })
        ));
        assert!(
            workspace.environment_labels("Strata").unwrap().is_empty(),
            "no prefix matches"
        );
    }
}
