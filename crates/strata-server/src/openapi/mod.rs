//! The API description: one table of routes (also what the role tests walk), and the
//! OpenAPI 3.1 document built from it, with the JSON Schemas of the bodies derived from the
//! very types the handlers send and read.

use std::collections::{BTreeMap, BTreeSet};

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use strata_store::store::{Action, Role};

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
