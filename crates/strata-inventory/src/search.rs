//! `strata env search`: the environment versions whose locks have a package, from the lock
//! index in one query, filtered by the version rules of the package's ecosystem.

use std::collections::HashMap;

use serde::Serialize;
use strata_store::{PackageUse, Workspace};

use crate::error::InventoryError;
use crate::query::{Ecosystem, PackageQuery};

/// One environment version with a matching package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub ecosystem: Ecosystem,
    /// The normalised package name.
    pub package: String,
    #[serde(flatten)]
    pub usage: PackageUse,
}

/// Every locked environment version (anonymous ones included: runs and deployments make
/// them) whose package matches `query`, sorted by environment name and version.
pub fn search(
    workspace: &Workspace,
    query: &PackageQuery,
) -> Result<Vec<SearchHit>, InventoryError> {
    let rows = workspace.package_uses(query.ecosystem.as_str(), &query.name)?;
    // Many versions lock the same package version: decide each distinct one once.
    let mut decided: HashMap<String, HashMap<Option<String>, bool>> = HashMap::new();
    let mut hits = Vec::new();
    for usage in rows {
        let known = decided
            .get(usage.version.as_str())
            .and_then(|builds| builds.get(&usage.build))
            .copied();
        let matched = known.unwrap_or_else(|| {
            let matched = query.matches(&usage.version, usage.build.as_deref());
            decided
                .entry(usage.version.clone())
                .or_default()
                .insert(usage.build.clone(), matched);
            matched
        });
        if matched {
            hits.push(SearchHit {
                ecosystem: query.ecosystem,
                package: query.name.clone(),
                usage,
            });
        }
    }
    Ok(hits)
}
