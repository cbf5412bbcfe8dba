//! What is inside the workspace's environments: the versions whose locks have a package, and
//! the latest version of every environment with its lock.

use axum::Json;
use axum::extract::{Path, Query};
use serde_json::Value;
use strata_store::{CONDA, PYPI};

use super::environments::PageQuery;
use super::{Wire, wire_page};
use crate::auth::{Access, Read};
use crate::errors::ApiError;
use crate::pages::page_limit;

/// `GET packages/{ecosystem}/{name}`: every environment version (anonymous ones included)
/// whose lock has the package, by environment name and version, with what used each. The
/// name is normalised as each ecosystem compares names (PEP 503 for `pypi`, lower case for
/// `conda`); versions are matched by the client, which knows the ecosystem's rules.
pub(crate) async fn uses(
    access: Access<Read>,
    Path((_, ecosystem, name)): Path<(String, String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = page_limit(query.limit)?;
    if ![PYPI, CONDA].contains(&ecosystem.as_str()) {
        return Err(ApiError::invalid(format!(
            "ecosystem `{ecosystem}` is not `{PYPI}` or `{CONDA}`"
        )));
    }
    let page = access
        .store
        .package_uses(&ecosystem, &name, query.cursor.as_deref(), limit)
        .await?;
    Ok(Json(serde_json::to_value(&page).unwrap_or(Value::Null)))
}

/// `GET locks`: the latest version of every named environment, by name, with its lock
/// (`null` when it has none).
pub(crate) async fn latest_locks(
    access: Access<Read>,
    Query(query): Query<PageQuery>,
) -> Result<Wire, ApiError> {
    let limit = page_limit(query.limit)?;
    let page = access
        .store
        .latest_locks(query.cursor.as_deref(), limit)
        .await?;
    Ok(wire_page(&page))
}
