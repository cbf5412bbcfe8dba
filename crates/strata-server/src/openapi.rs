//! The API description: one table of routes (also what the role tests walk), and the
//! OpenAPI 3.1 document built from it.

use serde_json::{Map, Value, json};
use strata_store::store::{Action, Role};

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
    pub query: &'static [&'static str],
    /// What the request body is, if it has one.
    pub body: Option<&'static str>,
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
        query: &[],
        body: None,
    }
}

const fn with_query(mut route: Route, query: &'static [&'static str]) -> Route {
    route.query = query;
    route
}

const fn with_body(mut route: Route, body: &'static str) -> Route {
    route.body = Some(body);
    route
}

/// Every route the server answers.
pub const ROUTES: &[Route] = &[
    route(
        "get",
        "/health",
        "Whether the server and its database answer (no token)",
        RouteAccess::Public,
        200,
    ),
    route(
        "get",
        "/me",
        "Whom the token belongs to",
        RouteAccess::Token,
        200,
    ),
    route(
        "get",
        "/openapi.json",
        "This document (no token)",
        RouteAccess::Public,
        200,
    ),
    with_query(
        route(
            "get",
            "/workspaces",
            "The workspaces the caller may open (all, for admins)",
            RouteAccess::Token,
            200,
        ),
        PAGE,
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/environments",
            "Environments: the latest version of each, or every version",
            READ,
            200,
        ),
        &[
            "cursor",
            "limit",
            "prefix",
            "name",
            "allVersions",
            "includeAnonymous",
        ],
    ),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}",
        "The latest version of an environment",
        READ,
        200,
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/environments/{name}/versions",
            "The versions of an environment, oldest first",
            READ,
            200,
        ),
        PAGE,
    ),
    with_body(
        route(
            "post",
            "/workspaces/{ws}/environments/{name}/versions",
            "Registers the next version (201), or answers the latest when identical (200)",
            WRITE,
            201,
        ),
        "DefinitionDocument and `anonymous`",
    ),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}/versions/{version}",
        "An environment version (immutable; ETag is its spec hash)",
        READ,
        200,
    ),
    with_body(
        route(
            "put",
            "/workspaces/{ws}/environments/{name}/versions/{version}",
            "Registers an explicit version: 201 new, 200 identical, 409 different",
            WRITE,
            201,
        ),
        "DefinitionDocument and `anonymous`",
    ),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}/versions/{version}/locks",
        "The version's lock (404 when it has none)",
        READ,
        200,
    ),
    with_body(
        route(
            "put",
            "/workspaces/{ws}/environments/{name}/versions/{version}/locks",
            "Stores the lock unless the version has one (201), else answers that one (200)",
            WRITE,
            201,
        ),
        "Lock",
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/environments/{name}/versions/{version}/builds",
            "The version's builds, newest first",
            READ,
            200,
        ),
        PAGE,
    ),
    with_body(
        route(
            "post",
            "/workspaces/{ws}/environments/{name}/versions/{version}/builds",
            "Records a build whose log blob is uploaded",
            WRITE,
            201,
        ),
        "BuildRecord",
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/environments/{name}/labels",
            "The environment's labels and the versions they name, by label",
            READ,
            200,
        ),
        PAGE,
    ),
    route(
        "get",
        "/workspaces/{ws}/environments/{name}/labels/{label}",
        "The version a label names",
        READ,
        200,
    ),
    with_body(
        route(
            "put",
            "/workspaces/{ws}/environments/{name}/labels/{label}",
            "Puts the label on a version, moving it from any other",
            WRITE,
            200,
        ),
        "`version`",
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/locks",
            "The latest version of every named environment, by name, with its lock (null when it has none)",
            READ,
            200,
        ),
        PAGE,
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/packages/{ecosystem}/{name}",
            "Environment versions whose lock has the package (`pypi` or `conda`; the name normalised), with the runs, models and services that used each",
            READ,
            200,
        ),
        PAGE,
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/runs",
            "Runs, newest first",
            READ,
            200,
        ),
        &["experiment", "status", "cursor", "limit"],
    ),
    with_body(
        route(
            "post",
            "/workspaces/{ws}/runs",
            "Creates a run whose snapshot blob is uploaded",
            WRITE,
            201,
        ),
        "RunRecord",
    ),
    route(
        "get",
        "/workspaces/{ws}/runs/{id}",
        "A run (weak ETag of its current state)",
        READ,
        200,
    ),
    with_body(
        route(
            "patch",
            "/workspaces/{ws}/runs/{id}",
            "A step in the run's life; `If-Match` makes it conditional (412)",
            WRITE,
            200,
        ),
        "RunUpdate",
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/runs/{id}/metrics",
            "The run's metrics, in the order logged",
            READ,
            200,
        ),
        PAGE,
    ),
    with_body(
        route(
            "post",
            "/workspaces/{ws}/runs/{id}/metrics",
            "Adds a batch of metrics",
            WRITE,
            204,
        ),
        "[Metric]",
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/runs/{id}/tags",
            "The run's tags",
            READ,
            200,
        ),
        PAGE,
    ),
    with_body(
        route(
            "put",
            "/workspaces/{ws}/runs/{id}/tags",
            "Sets a tag",
            WRITE,
            204,
        ),
        "{key, value}",
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/runs/{id}/log",
            "Reads the run's combined log",
            READ,
            200,
        ),
        &["offset", "max"],
    ),
    with_body(
        with_query(
            route(
                "post",
                "/workspaces/{ws}/runs/{id}/log",
                "Appends text at `offset`, the log's length",
                WRITE,
                200,
            ),
            &["offset"],
        ),
        "text/plain",
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/models",
            "Models: the latest version of each, or every version",
            READ,
            200,
        ),
        &["cursor", "limit", "allVersions"],
    ),
    route(
        "get",
        "/workspaces/{ws}/models/{name}",
        "The latest version of a model",
        READ,
        200,
    ),
    with_body(
        route(
            "post",
            "/workspaces/{ws}/models/{name}/versions",
            "Registers the next version of a model whose manifest is uploaded",
            WRITE,
            201,
        ),
        "ModelRecord",
    ),
    route(
        "get",
        "/workspaces/{ws}/models/{name}/versions/{version}",
        "A model version",
        READ,
        200,
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/services",
            "Services, sorted by name",
            READ,
            200,
        ),
        PAGE,
    ),
    route(
        "get",
        "/workspaces/{ws}/services/{name}",
        "A service (weak ETag of its current state)",
        READ,
        200,
    ),
    with_body(
        route(
            "put",
            "/workspaces/{ws}/services/{name}",
            "Records a deployment (201) or its new state (200); `If-Match` makes it conditional",
            WRITE,
            201,
        ),
        "ServiceRecord",
    ),
    with_body(
        route(
            "post",
            "/workspaces/{ws}/blobs:missing",
            "Which of these digests the workspace must upload",
            READ,
            200,
        ),
        "{digests: [sha256]}",
    ),
    with_body(
        route(
            "put",
            "/workspaces/{ws}/blobs/{digest}",
            "Uploads a blob, streamed and checked against its digest (422 on mismatch)",
            WRITE,
            201,
        ),
        "application/octet-stream",
    ),
    route(
        "get",
        "/workspaces/{ws}/blobs/{digest}",
        "Downloads a blob granted to the workspace, streamed; one `Range` answers 206 with `Content-Range`, one past the end 416",
        READ,
        200,
    ),
    route(
        "head",
        "/workspaces/{ws}/blobs/{digest}",
        "A blob's size, if granted to the workspace",
        READ,
        200,
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/members",
            "The workspace's members",
            READ,
            200,
        ),
        PAGE,
    ),
    with_body(
        route(
            "put",
            "/workspaces/{ws}/members/{user}",
            "Adds a member or changes their role",
            MANAGE,
            200,
        ),
        "{role}",
    ),
    route(
        "delete",
        "/workspaces/{ws}/members/{user}",
        "Removes a member",
        MANAGE,
        204,
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/tokens",
            "The workspace's tokens (never the tokens themselves)",
            MANAGE,
            200,
        ),
        PAGE,
    ),
    with_body(
        route(
            "post",
            "/workspaces/{ws}/tokens",
            "Creates a token for a member, with a role and expiry no higher than the caller's",
            MANAGE,
            201,
        ),
        "{user, role, description, expiresAt}",
    ),
    route(
        "delete",
        "/workspaces/{ws}/tokens/{id}",
        "Revokes a token of the workspace",
        MANAGE,
        200,
    ),
    with_query(
        route(
            "get",
            "/workspaces/{ws}/audit",
            "Audit events, newest first: all for owners, one's own for others",
            READ,
            200,
        ),
        PAGE,
    ),
];

fn role_needed(action: Action) -> Role {
    match action {
        Action::Read => Role::Reader,
        Action::Write => Role::Contributor,
        Action::Manage => Role::Owner,
    }
}

fn operation(route: &Route) -> Value {
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
    let mut responses = Map::new();
    responses.insert(route.status.to_string(), json!({"description": "Success"}));
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
    if let Some(body) = route.body {
        operation.insert(
            "requestBody".into(),
            json!({"required": true, "description": body, "content": {"application/json": {}}}),
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

/// The OpenAPI 3.1 document of [`ROUTES`].
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(route.method.to_string(), operation(route));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Strata team server", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A `strata_pat_...` token, in the `Authorization` header only"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string", "enum": ["not_found", "conflict", "precondition_failed", "forbidden", "unauthenticated", "invalid_request", "missing_blob", "unavailable", "internal"]},
                        "message": {"type": "string"},
                        "details": {"type": "object"}
                    }
                },
                "Page": {
                    "type": "object",
                    "required": ["items", "nextCursor"],
                    "properties": {"items": {"type": "array"}, "nextCursor": {"type": ["string", "null"]}}
                }
            }
        }
    })
}
