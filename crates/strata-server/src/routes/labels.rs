//! Environment labels (Azure ML's `Environment.label`): read by readers, moved by
//! contributors.

use axum::Json;
use axum::extract::{Path, Query};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use strata_spec::EnvironmentVersion;
use strata_store::EnvironmentLabel;

use super::environments::PageQuery;
use crate::auth::{Access, Read, Write};
use crate::errors::ApiError;
use crate::pages::page_limit;

/// `GET environments/{name}/labels`, by label.
pub(crate) async fn list(
    access: Access<Read>,
    Path((_, name)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = page_limit(query.limit)?;
    let page = access
        .store
        .environment_labels(&name, query.cursor.as_deref(), limit)
        .await?;
    Ok(Json(serde_json::to_value(&page).unwrap_or(Value::Null)))
}

/// `GET environments/{name}/labels/{label}`: the version it names.
pub(crate) async fn get(
    access: Access<Read>,
    Path((_, name, label)): Path<(String, String, String)>,
) -> Result<Json<EnvironmentLabel>, ApiError> {
    let version = access.store.labelled_version(&name, &label).await?;
    Ok(Json(EnvironmentLabel { label, version }))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LabelRequest")]
pub(crate) struct LabelBody {
    /// A number (`3`) or its text (`"3"`), as versions are written elsewhere.
    version: EnvironmentVersion,
}

/// `PUT environments/{name}/labels/{label}` with `{"version": "N"}`: puts the label on that
/// version, moving it from any other.
pub(crate) async fn put(
    access: Access<Write>,
    Path((_, name, label)): Path<(String, String, String)>,
    Json(body): Json<LabelBody>,
) -> Result<Json<EnvironmentLabel>, ApiError> {
    let version = body.version;
    access
        .store
        .label_environment(&name, &version, std::slice::from_ref(&label))
        .await?;
    Ok(Json(EnvironmentLabel { label, version }))
}
