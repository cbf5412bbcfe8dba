//! `strata env search`: the environment versions whose locks have a package (what the lock
//! index of a store answers for its name), filtered by the version rules of the package's
//! ecosystem.

use std::collections::HashMap;

use serde::Serialize;
use strata_store::PackageUse;

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

/// The uses of the query's package (every locked environment version that has it, as the
/// store's index lists them for the name) whose locked version matches `query`, in order.
pub fn matching(query: &PackageQuery, rows: Vec<PackageUse>) -> Vec<SearchHit> {
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
    hits
}
