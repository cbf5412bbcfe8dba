//! Environments, their versions, locks and builds.

use axum::Json;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strata_spec::Lock;
use strata_store::store::{EnvironmentQuery, ExactTimes};
use strata_store::{
    BuildRecord, DefinitionDocument, EnvironmentDocument, LockRecord, RegisterOptions,
};

use super::{Wire, parse_version, wire, wire_page};
use crate::auth::{Access, Read, Write};
use crate::errors::ApiError;
use crate::etags::{strong, tagged};
use crate::pages::page_limit;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    cursor: Option<String>,
    limit: Option<usize>,
    prefix: Option<String>,
    name: Option<String>,
    #[serde(default)]
    all_versions: bool,
    #[serde(default)]
    include_anonymous: bool,
}

/// `GET environments`: the latest version of each, or every version.
pub(crate) async fn list(
    access: Access<Read>,
    Query(query): Query<ListQuery>,
) -> Result<Wire, ApiError> {
    let limit = page_limit(query.limit)?;
    let filter = EnvironmentQuery {
        all_versions: query.all_versions,
        include_anonymous: query.include_anonymous,
        prefix: query.prefix,
        name: query.name,
    };
    let page = access
        .store
        .list_environments(&filter, query.cursor.as_deref(), limit)
        .await?;
    Ok(wire_page(&page))
}

/// `GET environments/{name}`: the latest version (not immutable: the next registration moves it).
pub(crate) async fn latest(
    access: Access<Read>,
    Path((_, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let record = access.store.get_environment(&name, None).await?;
    let etag = strong(&format!("{}-{}", record.spec_hash.as_str(), record.version));
    Ok(tagged(
        &headers,
        StatusCode::OK,
        &etag,
        false,
        wire(&EnvironmentDocument::of(&record)),
    ))
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    pub(crate) cursor: Option<String>,
    pub(crate) limit: Option<usize>,
}

/// `GET environments/{name}/versions`, oldest first.
pub(crate) async fn versions(
    access: Access<Read>,
    Path((_, name)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Wire, ApiError> {
    let limit = page_limit(query.limit)?;
    let filter = EnvironmentQuery {
        all_versions: true,
        include_anonymous: true,
        prefix: None,
        name: Some(name.clone()),
    };
    let page = access
        .store
        .list_environments(&filter, query.cursor.as_deref(), limit)
        .await?;
    if page.items.is_empty() && query.cursor.is_none() {
        return Err(ApiError::not_found(format!("Environment `{name}`")));
    }
    Ok(wire_page(&page))
}

/// A definition to register, with how to register it.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterRequest {
    #[serde(flatten)]
    definition: DefinitionDocument,
    #[serde(default)]
    anonymous: bool,
}

/// A registered version's document, whether it is new, and what was not stored.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "RegisteredEnvironment")]
pub(crate) struct Registered {
    #[serde(flatten)]
    document: EnvironmentDocument,
    /// False when an identical definition was already the version answered.
    created: bool,
    warnings: Vec<String>,
}

impl ExactTimes for Registered {}

async fn register_as(
    access: &Access<Write>,
    name: &str,
    version: Option<&str>,
    request: RegisterRequest,
) -> Result<Response, ApiError> {
    let mut environment = request.definition.to_environment(name)?;
    match environment.name.as_deref() {
        Some(own) if own != name => {
            return Err(ApiError::invalid(format!(
                "the definition is named `{own}`, but was sent to environment `{name}`"
            )));
        }
        _ => environment.name = Some(name.to_string()),
    }
    if let Some(version) = version {
        let version = parse_version(version)?;
        match environment.version.as_deref().map(str::trim) {
            Some(own) if !own.is_empty() && own != version.as_str() => {
                return Err(ApiError::invalid(format!(
                    "the definition is version `{own}`, but was sent to version `{version}`"
                )));
            }
            _ => environment.version = Some(version.to_string()),
        }
    }
    let registration = access
        .store
        .register_environment(
            environment,
            RegisterOptions {
                anonymous: request.anonymous,
            },
        )
        .await?;
    let status = if registration.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = Registered {
        document: EnvironmentDocument::of(&registration.record),
        created: registration.created,
        warnings: registration.warnings,
    };
    Ok((status, wire(&body)).into_response())
}

/// `POST environments/{name}/versions`: the next version (201), or the latest when it has
/// the same spec hash (200).
pub(crate) async fn register(
    access: Access<Write>,
    Path((_, name)): Path<(String, String)>,
    Json(request): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    register_as(&access, &name, None, request).await
}

/// `PUT environments/{name}/versions/{version}`: 201 new, 200 identical, 409 different.
pub(crate) async fn put_version(
    access: Access<Write>,
    Path((_, name, version)): Path<(String, String, String)>,
    Json(request): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    register_as(&access, &name, Some(&version), request).await
}

/// `GET environments/{name}/versions/{version}`: immutable, tagged by its spec hash.
pub(crate) async fn version(
    access: Access<Read>,
    Path((_, name, version)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let version = parse_version(&version)?;
    let record = access.store.get_environment(&name, Some(&version)).await?;
    let etag = strong(record.spec_hash.as_str());
    Ok(tagged(
        &headers,
        StatusCode::OK,
        &etag,
        true,
        wire(&EnvironmentDocument::of(&record)),
    ))
}

/// `GET .../locks`: 404 when the version has none yet.
pub(crate) async fn get_lock(
    access: Access<Read>,
    Path((_, name, version)): Path<(String, String, String)>,
) -> Result<Json<LockRecord>, ApiError> {
    let version = parse_version(&version)?;
    access.store.get_environment(&name, Some(&version)).await?;
    match access.store.get_lock(&name, &version).await? {
        Some(lock) => Ok(Json(lock)),
        None => {
            let mut error = ApiError::not_found(format!("The lock of `{name}:{version}`"));
            error.details["kind"] = "no_lock".into();
            Err(error)
        }
    }
}

/// `PUT .../locks`: first writer wins; 201 when this one was stored, 200 with the lock the
/// version already had otherwise.
pub(crate) async fn put_lock(
    access: Access<Write>,
    Path((_, name, version)): Path<(String, String, String)>,
    Json(lock): Json<Lock>,
) -> Result<Response, ApiError> {
    let version = parse_version(&version)?;
    if let Some(existing) = access.store.get_lock(&name, &version).await? {
        return Ok((StatusCode::OK, Json(existing)).into_response());
    }
    let record = access.store.set_lock(&name, &version, &lock).await?;
    let status = if record.lock == lock {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(record)).into_response())
}

/// `GET .../builds`, newest first.
pub(crate) async fn builds(
    access: Access<Read>,
    Path((_, name, version)): Path<(String, String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Wire, ApiError> {
    let limit = page_limit(query.limit)?;
    let version = parse_version(&version)?;
    let page = access
        .store
        .list_builds(&name, &version, query.cursor.as_deref(), limit)
        .await?;
    Ok(wire_page(&page))
}

/// `POST .../builds`: records a build whose log blob is already uploaded.
pub(crate) async fn record_build(
    access: Access<Write>,
    Path((_, name, version)): Path<(String, String, String)>,
    Json(record): Json<BuildRecord>,
) -> Result<Response, ApiError> {
    let version = parse_version(&version)?;
    if record.name != name || record.version != version {
        return Err(ApiError::invalid(format!(
            "the build is of `{}:{}`, but was sent to `{name}:{version}`",
            record.name, record.version
        )));
    }
    access.store.record_build(&record).await?;
    Ok((StatusCode::CREATED, wire(&record)).into_response())
}
