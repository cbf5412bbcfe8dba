//! The API description: one table of routes (also what the role tests walk), and the
//! OpenAPI 3.1 document built from it, with the JSON Schemas of the bodies derived from the
//! very types the handlers send and read.

use std::collections::{BTreeMap, BTreeSet};

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use strata_store::store::{Action, MAX_PAGE_SIZE, Role};

use crate::pages::DEFAULT_PAGE_SIZE;

use table::ParamKind;
pub use table::{Body, ROUTES, Route, RouteAccess, SchemaFn};

mod table;

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
        .filter_map(|segment| segment.split(':').next()?.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let (description, schema) = path_parameter(route.path, name);
            json!({"name": name, "in": "path", "required": true, "description": description, "schema": schema})
        })
        .collect();
    parameters.extend(route.query.iter().map(|param| {
        json!({
            "name": param.name,
            "in": "query",
            "required": param.required,
            "description": param.description,
            "schema": query_schema(param.kind),
        })
    }));
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

/// What a path parameter names, and the values the server takes for it.
fn path_parameter(path: &str, name: &str) -> (&'static str, Value) {
    // Azure ML's rule for asset names, which workspaces, environments, models and services
    // follow here too.
    let asset = |description| {
        (
            description,
            json!({"type": "string", "pattern": "^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$"}),
        )
    };
    match name {
        "name" if path.contains("/packages/") => (
            "The package, compared as its ecosystem compares names (PEP 503 for `pypi`: `Scikit_Learn` is `scikit-learn`; lower case for `conda`)",
            json!({"type": "string", "minLength": 1}),
        ),
        "ws" => asset("The workspace"),
        "name" => asset("The environment, model, service or compute target"),
        "version" => (
            "A version: the number the server gave it, or the text its definition named",
            json!({"type": "string", "minLength": 1}),
        ),
        "label" => asset("A label of the environment"),
        "digest" => (
            "A blob: the SHA-256 of its bytes",
            json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
        ),
        "ecosystem" => (
            "Where the package comes from",
            json!({"type": "string", "enum": ["pypi", "conda"]}),
        ),
        "id" => ("The run", json!({"type": "string", "minLength": 1})),
        "user" => ("The member", json!({"type": "string", "minLength": 1})),
        _ => ("", json!({"type": "string"})),
    }
}

fn query_schema(kind: ParamKind) -> Value {
    match kind {
        ParamKind::Text => json!({"type": "string"}),
        ParamKind::Cursor => json!({"type": "string", "minLength": 1}),
        ParamKind::Limit => {
            json!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE})
        }
        ParamKind::Flag => json!({"type": "boolean", "default": false}),
        ParamKind::Count => json!({"type": "integer", "minimum": 0}),
    }
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
