//! The table of routes: each with its method, path, summary, the role it needs, its success
//! statuses and the types of its bodies. The role tests walk it, and the document is built
//! from it.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use strata_spec::Lock;
use strata_store::store::{
    Action, AuditEvent, CursorPage, LogChunk, Member, Principal, RunUpdate, TokenRecord,
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

/// A query parameter of a route.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    pub description: &'static str,
}

/// What a query parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Any text.
    Text,
    /// The `nextCursor` of the previous page.
    Cursor,
    /// A page size, 1 to [`strata_store::store::MAX_PAGE_SIZE`].
    Limit,
    /// `true` or `false`.
    Flag,
    /// A count from 0: a byte offset or length.
    Count,
}

const fn param(name: &'static str, kind: ParamKind, description: &'static str) -> Param {
    Param {
        name,
        kind,
        required: false,
        description,
    }
}

impl Param {
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

const CURSOR: Param = param(
    "cursor",
    ParamKind::Cursor,
    "The `nextCursor` of the previous page; the first page without it",
);
const LIMIT: Param = param(
    "limit",
    ParamKind::Limit,
    "Items per page (100 when not given)",
);

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
    pub query: &'static [Param],
    /// The request body, if it has one.
    pub request: Option<Body>,
    /// The body of success, if it has one.
    pub response: Option<Body>,
}

impl Route {
    const fn query(mut self, query: &'static [Param]) -> Self {
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
const PAGE: &[Param] = &[CURSOR, LIMIT];

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
        CURSOR,
        LIMIT,
        param(
            "prefix",
            ParamKind::Text,
            "Only environments whose name starts with this",
        ),
        param("name", ParamKind::Text, "Only the environment of this name"),
        param(
            "allVersions",
            ParamKind::Flag,
            "Every version, not only the latest of each environment",
        ),
        param(
            "includeAnonymous",
            ParamKind::Flag,
            "Anonymous environments too (registered by runs without a name)",
        ),
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
    .query(&[
        param("experiment", ParamKind::Text, "Only the runs of this experiment"),
        param(
            "status",
            ParamKind::Text,
            "Only the runs in this status (`Queued`, `Preparing`, `Running`, `Completed`, `Failed`, `Canceled`)",
        ),
        CURSOR,
        LIMIT,
    ])
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
    .query(&[
        param(
            "offset",
            ParamKind::Count,
            "The byte of the log to read from (the previous answer's `nextOffset`)",
        )
        .required(),
        param(
            "max",
            ParamKind::Count,
            "At most this many bytes (1 MiB when not given, 4 MiB at most)",
        ),
    ])
    .response(json::<LogChunk>()),
    route(
        "post",
        "/workspaces/{ws}/runs/{id}/log",
        "Appends text at `offset`, the log's length",
        WRITE,
        200,
    )
    .query(&[param(
        "offset",
        ParamKind::Count,
        "The log's length as the writer knows it (a retried append of text already there is accepted; another offset is a conflict)",
    )
    .required()])
    .request(Body::Text)
    .response(json::<runs::Appended>()),
    route(
        "get",
        "/workspaces/{ws}/models",
        "Models: the latest version of each, or every version",
        READ,
        200,
    )
    .query(&[
        CURSOR,
        LIMIT,
        param(
            "allVersions",
            ParamKind::Flag,
            "Every version, not only the latest of each model",
        ),
    ])
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
