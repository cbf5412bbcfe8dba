//! The API description: one table of routes (also what the role tests walk), and the
//! OpenAPI 3.1 document built from it, with the JSON Schemas of the bodies derived from the
//! very types the handlers send and read.

use std::collections::{BTreeMap, BTreeSet};

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};
use strata_spec::Lock;
use strata_store::store::{
    Action, AuditEvent, CursorPage, LogChunk, Member, Principal, Role, RunUpdate, TokenRecord,
    WorkspaceInfo,
};
use strata_store::{
    BuildRecord, EnvironmentDocument, EnvironmentLabel, EnvironmentSummary, LatestLock, LockRecord,
    Metric, ModelRecord, PackageUse, RunJob, RunRecord, ServiceRecord, TargetRecord,
};

use crate::routes::{admin, blobs, environments, labels, meta, runs, targets};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAccess {
    /// Anyone, without a token.
    Public,
    /// Any valid token.
    Token,
    /// A member of the path's workspace whose role allows this.
    Workspace(Action),
}

/// Adds a type's schema to a generator and answers the schema to use (usually a `$ref`).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// What a request or response body is.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// `application/json` of this schema.
    Json(SchemaFn),
    /// `text/plain`, UTF-8.
    Text,
    /// `application/octet-stream`.
    Bytes,
}

impl Body {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json(_) => "application/json",
            Self::Text => "text/plain",
            Self::Bytes => "application/octet-stream",
        }
    }
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// Under `/api/v1`, with `{parameters}`.
    pub path: &'static str,
    pub summary: &'static str,
    pub access: RouteAccess,
    /// The status of success.
    pub status: u16,
    /// Other statuses of success, with the same body.
    pub also: &'static [u16],
    pub query: &'static [&'static str],
    /// The request body, if it has one.
    pub request: Option<Body>,
    /// The body of success, if it has one.
    pub response: Option<Body>,
}

impl Route {
    const fn query(mut self, query: &'static [&'static str]) -> Self {
        self.query = query;
        self
    }

    const fn request(mut self, body: Body) -> Self {
        self.request = Some(body);
        self
    }

    const fn response(mut self, body: Body) -> Self {
        self.response = Some(body);
        self
    }

    const fn also(mut self, also: &'static [u16]) -> Self {
        self.also = also;
        self
    }
}

const READ: RouteAccess = RouteAccess::Workspace(Action::Read);
const WRITE: RouteAccess = RouteAccess::Workspace(Action::Write);
const MANAGE: RouteAccess = RouteAccess::Workspace(Action::Manage);
const PAGE: &[&str] = &["cursor", "limit"];

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: RouteAccess,
    status: u16,
) -> Route {
    Route {
        method,
        path,
        summary,
        access,
        status,
        also: &[],
        query: &[],
        request: None,
        response: None,
    }
}

fn subschema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

const fn json<T: JsonSchema>() -> Body {
    Body::Json(subschema::<T>)
}

/// A page of `T`s: `{items, nextCursor}`.
const fn page<T: JsonSchema>() -> Body {
    json::<CursorPage<T>>()
}

fn openapi_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "description": "An OpenAPI 3.1 document (this one)"})
}

/// Every route the server answers.
pub const ROUTES: &[Route] = &[
    route(
        "get",
        "/health",
        "Whether the server and its database answer (no token)",
        RouteAccess::Public,
        200,
    )
    .response(json::<meta::Health>()),
    route(
        "get",
        "/me",
        "Whom the token belongs to",
        RouteAccess::Token,
        200,
    )
    .response(json::<Principal>()),
    route(
        "get",
        "/openapi.json",
        "This document (no token)",
        RouteAccess::Public,
        200,
    )
    .response(Body::Json(openapi_schema)),
    route(
        "get",
        "/workspaces",
        "The workspaces the caller may open (all, for admins)",
        RouteAccess::Token,
        200,
    )
    .query(PAGE)
    .response(page::<WorkspaceInfo>()),
    route(
        "get",
        "/workspaces/{ws}/environments",
        "Environments: the latest version of each, or every version",
        READ,
        200,
    )
    .query(&[
        "cursor",
        "limit",
        "prefix",
        "name",
        "allVersions",
        "includeAnonymous",
    ])
    .response(page::<EnvironmentSummary>()),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}",
        "The latest version of an environment",
        READ,
        200,
    )
    .response(json::<EnvironmentDocument>()),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}/versions",
        "The versions of an environment, oldest first",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<EnvironmentSummary>()),
    route(
        "post",
        "/workspaces/{ws}/environments/{name}/versions",
        "Registers the next version (201), or answers the latest when identical (200)",
        WRITE,
        201,
    )
    .also(&[200])
    .request(json::<environments::RegisterRequest>())
    .response(json::<environments::Registered>()),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}/versions/{version}",
        "An environment version (immutable; ETag is its spec hash)",
        READ,
        200,
    )
    .response(json::<EnvironmentDocument>()),
    route(
        "put",
        "/workspaces/{ws}/environments/{name}/versions/{version}",
        "Registers an explicit version: 201 new, 200 identical, 409 different",
        WRITE,
        201,
    )
    .also(&[200])
    .request(json::<environments::RegisterRequest>())
    .response(json::<environments::Registered>()),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}/versions/{version}/locks",
        "The version's lock (404 when it has none)",
        READ,
        200,
    )
    .response(json::<LockRecord>()),
    route(
        "put",
        "/workspaces/{ws}/environments/{name}/versions/{version}/locks",
        "Stores the lock unless the version has one (201), else answers that one (200)",
        WRITE,
        201,
    )
    .also(&[200])
    .request(json::<Lock>())
    .response(json::<LockRecord>()),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}/versions/{version}/builds",
        "The version's builds, newest first",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<BuildRecord>()),
    route(
        "post",
        "/workspaces/{ws}/environments/{name}/versions/{version}/builds",
        "Records a build whose log blob is uploaded",
        WRITE,
        201,
    )
    .request(json::<BuildRecord>())
    .response(json::<BuildRecord>()),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}/labels",
        "The environment's labels and the versions they name, by label",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<EnvironmentLabel>()),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}/labels/{label}",
        "The version a label names",
        READ,
        200,
    )
    .response(json::<EnvironmentLabel>()),
    route(
        "put",
        "/workspaces/{ws}/environments/{name}/labels/{label}",
        "Puts the label on a version, moving it from any other",
        WRITE,
        200,
    )
    .request(json::<labels::LabelBody>())
    .response(json::<EnvironmentLabel>()),
    route(
        "get",
        "/workspaces/{ws}/locks",
        "The latest version of every named environment, by name, with its lock (null when it has none)",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<LatestLock>()),
    route(
        "get",
        "/workspaces/{ws}/packages/{ecosystem}/{name}",
        "Environment versions whose lock has the package (`pypi` or `conda`; the name normalised), with the runs, models and services that used each",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<PackageUse>()),
    route(
        "get",
        "/workspaces/{ws}/runs",
        "Runs, newest first",
        READ,
        200,
    )
    .query(&["experiment", "status", "cursor", "limit"])
    .response(page::<RunRecord>()),
    route(
        "post",
        "/workspaces/{ws}/runs",
        "Creates a run whose snapshot blob is uploaded",
        WRITE,
        201,
    )
    .request(json::<RunRecord>())
    .response(json::<RunRecord>()),
    route(
        "get",
        "/workspaces/{ws}/runs/{id}",
        "A run (weak ETag of its current state)",
        READ,
        200,
    )
    .response(json::<RunRecord>()),
    route(
        "patch",
        "/workspaces/{ws}/runs/{id}",
        "A step in the run's life; `If-Match` makes it conditional (412)",
        WRITE,
        200,
    )
    .request(json::<RunUpdate>())
    .response(json::<RunRecord>()),
    route(
        "get",
        "/workspaces/{ws}/runs/{id}/metrics",
        "The run's metrics, in the order logged",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<Metric>()),
    route(
        "post",
        "/workspaces/{ws}/runs/{id}/metrics",
        "Adds a batch of metrics",
        WRITE,
        204,
    )
    .request(json::<Vec<Metric>>()),
    route(
        "get",
        "/workspaces/{ws}/runs/{id}/tags",
        "The run's tags",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<runs::Tag>()),
    route(
        "put",
        "/workspaces/{ws}/runs/{id}/tags",
        "Sets a tag",
        WRITE,
        204,
    )
    .request(json::<runs::Tag>()),
    route(
        "get",
        "/workspaces/{ws}/runs/{id}/job",
        "The run's job on a compute target's scheduler (204 for a run that had none)",
        READ,
        200,
    )
    .also(&[204])
    .response(json::<RunJob>()),
    route(
        "put",
        "/workspaces/{ws}/runs/{id}/job",
        "Records what the scheduler says of the run's job; fields left null keep what was recorded",
        WRITE,
        200,
    )
    .request(json::<RunJob>())
    .response(json::<RunJob>()),
    route(
        "get",
        "/workspaces/{ws}/runs/{id}/log",
        "Reads the run's combined log",
        READ,
        200,
    )
    .query(&["offset", "max"])
    .response(json::<LogChunk>()),
    route(
        "post",
        "/workspaces/{ws}/runs/{id}/log",
        "Appends text at `offset`, the log's length",
        WRITE,
        200,
    )
    .query(&["offset"])
    .request(Body::Text)
    .response(json::<runs::Appended>()),
    route(
        "get",
        "/workspaces/{ws}/models",
        "Models: the latest version of each, or every version",
        READ,
        200,
    )
    .query(&["cursor", "limit", "allVersions"])
    .response(page::<ModelRecord>()),
    route(
        "get",
        "/workspaces/{ws}/models/{name}",
        "The latest version of a model",
        READ,
        200,
    )
    .response(json::<ModelRecord>()),
    route(
        "post",
        "/workspaces/{ws}/models/{name}/versions",
        "Registers the next version of a model whose manifest is uploaded",
        WRITE,
        201,
    )
    .request(json::<ModelRecord>())
    .response(json::<ModelRecord>()),
    route(
        "get",
        "/workspaces/{ws}/models/{name}/versions/{version}",
        "A model version",
        READ,
        200,
    )
    .response(json::<ModelRecord>()),
    route(
        "get",
        "/workspaces/{ws}/services",
        "Services, sorted by name",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<ServiceRecord>()),
    route(
        "get",
        "/workspaces/{ws}/services/{name}",
        "A service (weak ETag of its current state)",
        READ,
        200,
    )
    .response(json::<ServiceRecord>()),
    route(
        "put",
        "/workspaces/{ws}/services/{name}",
        "Records a deployment (201) or its new state (200); `If-Match` makes it conditional",
        WRITE,
        201,
    )
    .also(&[200])
    .request(json::<ServiceRecord>())
    .response(json::<ServiceRecord>()),
    route(
        "get",
        "/workspaces/{ws}/targets",
        "The attached compute targets, by name (`local` and `container` are built in)",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<TargetRecord>()),
    route(
        "get",
        "/workspaces/{ws}/targets/{name}",
        "A compute target, attached or built in",
        READ,
        200,
    )
    .response(json::<TargetRecord>()),
    route(
        "put",
        "/workspaces/{ws}/targets/{name}",
        "Attaches a compute target under a name nobody took",
        MANAGE,
        201,
    )
    .request(json::<targets::AttachBody>())
    .response(json::<TargetRecord>()),
    route(
        "delete",
        "/workspaces/{ws}/targets/{name}",
        "Detaches a compute target; runs that used it keep their records",
        MANAGE,
        204,
    ),
    route(
        "post",
        "/workspaces/{ws}/blobs:missing",
        "Which of these digests the workspace must upload",
        READ,
        200,
    )
    .request(json::<blobs::MissingRequest>())
    .response(json::<blobs::MissingResponse>()),
    route(
        "put",
        "/workspaces/{ws}/blobs/{digest}",
        "Uploads a blob, streamed and checked against its digest (422 on mismatch)",
        WRITE,
        201,
    )
    .request(Body::Bytes)
    .response(json::<blobs::Uploaded>()),
    route(
        "get",
        "/workspaces/{ws}/blobs/{digest}",
        "Downloads a blob granted to the workspace, streamed; one `Range` answers 206 with `Content-Range`, one past the end 416",
        READ,
        200,
    )
    .also(&[206])
    .response(Body::Bytes),
    route(
        "head",
        "/workspaces/{ws}/blobs/{digest}",
        "A blob's size, if granted to the workspace",
        READ,
        200,
    ),
    route(
        "get",
        "/workspaces/{ws}/members",
        "The workspace's members",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<Member>()),
    route(
        "put",
        "/workspaces/{ws}/members/{user}",
        "Adds a member or changes their role",
        MANAGE,
        200,
    )
    .request(json::<admin::MemberRequest>())
    .response(json::<Member>()),
    route(
        "delete",
        "/workspaces/{ws}/members/{user}",
        "Removes a member",
        MANAGE,
        204,
    ),
    route(
        "get",
        "/workspaces/{ws}/tokens",
        "The workspace's tokens (never the tokens themselves)",
        MANAGE,
        200,
    )
    .query(PAGE)
    .response(page::<TokenRecord>()),
    route(
        "post",
        "/workspaces/{ws}/tokens",
        "Creates a token for a member, with a role and expiry no higher than the caller's",
        MANAGE,
        201,
    )
    .request(json::<admin::TokenRequest>())
    .response(json::<admin::CreatedToken>()),
    route(
        "delete",
        "/workspaces/{ws}/tokens/{id}",
        "Revokes a token of the workspace",
        MANAGE,
        200,
    )
    .response(json::<TokenRecord>()),
    route(
        "get",
        "/workspaces/{ws}/audit",
        "Audit events, newest first: all for owners, one's own for others",
        READ,
        200,
    )
    .query(PAGE)
    .response(page::<AuditEvent>()),
];

fn role_needed(action: Action) -> Role {
    match action {
        Action::Read => Role::Reader,
        Action::Write => Role::Contributor,
        Action::Manage => Role::Owner,
    }
}

const SCHEMAS: &str = "#/components/schemas/";

/// The schemas of one contract: what the server sends, or what it accepts.
fn generator(settings: SchemaSettings) -> SchemaGenerator {
    settings
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator()
}

fn content(body: Body, generator: &mut SchemaGenerator) -> Value {
    let mut media = Map::new();
    if let Body::Json(schema) = body {
        media.insert("schema".into(), schema(generator).to_value());
    }
    json!({ body.media_type(): media })
}

fn operation(route: &Route, sent: &mut SchemaGenerator, accepted: &mut SchemaGenerator) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    parameters.extend(
        route
            .query
            .iter()
            .map(|name| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}})),
    );
    let error = json!({"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut success = Map::new();
    success.insert("description".into(), json!("Success"));
    if let Some(body) = route.response {
        success.insert("content".into(), content(body, sent));
    }
    let mut responses = Map::new();
    for status in std::iter::once(&route.status).chain(route.also) {
        // 204 is an answer without a body, whatever the route's other successes carry.
        let answer = if *status == 204 {
            json!({"description": "No content"})
        } else {
            Value::Object(success.clone())
        };
        responses.insert(status.to_string(), answer);
    }
    responses.insert("default".to_string(), error);
    let mut operation = Map::new();
    operation.insert("summary".into(), json!(route.summary));
    operation.insert(
        "operationId".into(),
        json!(format!("{} {}", route.method, route.path)),
    );
    if !parameters.is_empty() {
        operation.insert("parameters".into(), json!(parameters));
    }
    if let Some(body) = route.request {
        operation.insert(
            "requestBody".into(),
            json!({"required": true, "content": content(body, accepted)}),
        );
    }
    operation.insert("responses".into(), Value::Object(responses));
    match route.access {
        RouteAccess::Public => {
            operation.insert("security".into(), json!([]));
        }
        RouteAccess::Token => {}
        RouteAccess::Workspace(action) => {
            operation.insert("x-strata-role".into(), json!(role_needed(action).as_str()));
        }
    }
    Value::Object(operation)
}

fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref")
                && let Some(name) = target.strip_prefix(SCHEMAS)
            {
                out.insert(name.to_string());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn rename_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref")
                && let Some(new) = target.strip_prefix(SCHEMAS).and_then(|n| renames.get(n))
            {
                *target = format!("{SCHEMAS}{new}");
            }
            map.values_mut().for_each(|v| rename_refs(v, renames));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renames)),
        _ => {}
    }
}

/// One set of schemas for both contracts: a type whose accepted form differs from its sent
/// one (a field with a default is optional, a time may be text), or that refers to such a
/// type, keeps its name for what is sent and is `NameInput` for what is accepted, as
/// generators of OpenAPI documents elsewhere name them. Answers the renames.
fn merge(
    schemas: &mut Map<String, Value>,
    mut accepted: Map<String, Value>,
) -> BTreeMap<String, String> {
    let mut differ: BTreeSet<String> = accepted
        .iter()
        .filter(|(name, schema)| schemas.get(*name).is_some_and(|sent| sent != *schema))
        .map(|(name, _)| name.clone())
        .collect();
    loop {
        let more: Vec<String> = accepted
            .iter()
            .filter(|(name, schema)| {
                let mut used = BTreeSet::new();
                refs(schema, &mut used);
                !differ.contains(*name) && used.iter().any(|u| differ.contains(u))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        differ.extend(more);
    }
    let renames: BTreeMap<String, String> = differ
        .iter()
        .map(|name| (name.clone(), format!("{name}Input")))
        .collect();
    for (name, mut schema) in std::mem::take(&mut accepted) {
        rename_refs(&mut schema, &renames);
        let name = renames.get(&name).cloned().unwrap_or(name);
        schemas.insert(name, schema);
    }
    renames
}

/// The OpenAPI 3.1 document of [`ROUTES`].
pub fn document() -> Value {
    let mut sent = generator(SchemaSettings::draft2020_12().for_serialize());
    let mut accepted = generator(SchemaSettings::draft2020_12().for_deserialize());
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(
                route.method.to_string(),
                operation(route, &mut sent, &mut accepted),
            );
        }
    }
    let mut schemas = sent.take_definitions(true);
    let renames = merge(&mut schemas, accepted.take_definitions(true));
    for methods in paths.values_mut() {
        for operation in methods
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            if let Some(request) = operation.get_mut("requestBody") {
                rename_refs(request, &renames);
            }
        }
    }
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": ["not_found", "conflict", "precondition_failed", "forbidden", "unauthenticated", "invalid_request", "missing_blob", "unavailable", "internal"]},
                "message": {"type": "string"},
                "details": {"type": "object"}
            }
        }),
    );
    schemas.sort_keys();
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Strata team server", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A `strata_pat_...` token, in the `Authorization` header only"}},
            "schemas": schemas
        }
    })
}
