//! `GET /swagger.json[?version=2|2.0|3|3.0|3.1]`: azmlinfsrv's documents, built once (and again on
//! reload). A `swagger.json` or `swagger2.json` in the app root replaces version 2, and
//! `swagger3.json` or `swagger3.1.json` replace 3 and 3.1 (azmlinfsrv's file names). Otherwise the
//! document comes from azmlinfsrv's templates (MIT licence) with empty `ServiceInput` and
//! `ServiceOutput` schemas, since `run()` carries no inference-schema decorators here. Every
//! document is rendered as Python's `json.dumps` renders it.

use std::path::Path;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::log::Log;
use crate::pyjson;

const TEMPLATE_2: &str = include_str!("swagger2_template.json");
const TEMPLATE_3: &str = include_str!("swagger3_template.json");

/// The documents by version.
#[derive(Debug, Clone)]
pub(crate) struct Swagger {
    version_2: Bytes,
    version_3: Bytes,
    version_3_1: Bytes,
}

/// Values substituted into the templates (`SERVICE_NAME`, `SERVICE_VERSION`,
/// `SERVICE_PATH_PREFIX` in azmlinfsrv).
pub(crate) struct ServiceInfo {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) path_prefix: String,
}

impl Default for ServiceInfo {
    fn default() -> Self {
        Self {
            name: "ML service".to_string(),
            version: "1.0".to_string(),
            path_prefix: String::new(),
        }
    }
}

impl Swagger {
    pub(crate) fn load(app_root: &Path, info: &ServiceInfo, log: &Log) -> Self {
        let version_2 = user_document(app_root, &["swagger.json", "swagger2.json"], log)
            .unwrap_or_else(|| generated(TEMPLATE_2, info, "2"));
        let version_3 = user_document(app_root, &["swagger3.json"], log)
            .unwrap_or_else(|| generated(TEMPLATE_3, info, "3"));
        let version_3_1 = user_document(app_root, &["swagger3.1.json"], log)
            .unwrap_or_else(|| generated(TEMPLATE_3, info, "3.1"));
        Self {
            version_2: Bytes::from(pyjson::to_string(&version_2)),
            version_3: Bytes::from(pyjson::to_string(&version_3)),
            version_3_1: Bytes::from(pyjson::to_string(&version_3_1)),
        }
    }

    /// The document for a `version` parameter, or `None` for an unknown version.
    pub(crate) fn get(&self, version: &str) -> Option<Bytes> {
        match version {
            "2" | "2.0" => Some(self.version_2.clone()),
            "3" | "3.0" => Some(self.version_3.clone()),
            "3.1" => Some(self.version_3_1.clone()),
            _ => None,
        }
    }

    /// azmlinfsrv's 404 message for an unknown version.
    pub(crate) fn invalid_version(version: &str) -> String {
        format!("Swagger version [{version}] is not valid. Supported versions: [2, 3, 3.1].")
    }
}

fn user_document(app_root: &Path, names: &[&str], log: &Log) -> Option<Value> {
    for name in names {
        let path = app_root.join(name);
        let Ok(text) = fs_err::read_to_string(&path) else {
            continue;
        };
        match serde_json::from_str(&text) {
            Ok(document) => {
                log.info(
                    "strata-serve",
                    format!("serving {} as the swagger document", path.display()),
                );
                return Some(document);
            }
            Err(error) => log.warn(
                "strata-serve",
                format!("ignoring {}: it is not JSON ({error})", path.display()),
            ),
        }
    }
    None
}

fn generated(template: &str, info: &ServiceInfo, version: &str) -> Value {
    let prefix = info.path_prefix.trim_matches('/');
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("/{prefix}")
    };
    let text = template
        .replace("$SERVICE_NAME$", &escaped(&info.name))
        .replace("$SERVICE_VERSION$", &escaped(&info.version))
        .replace("$PATH_PREFIX$", &escaped(&prefix));
    let mut document: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let empty = json!({"type": "object", "example": {}});
    let schemas = if version == "2" {
        document.get_mut("definitions")
    } else {
        document
            .get_mut("components")
            .and_then(|components| components.get_mut("schemas"))
    };
    if let Some(Value::Object(schemas)) = schemas {
        schemas.insert("ServiceInput".to_string(), empty.clone());
        schemas.insert("ServiceOutput".to_string(), empty);
    }
    if let (Value::Object(root), "3.1") = (&mut document, version) {
        root.insert("openapi".to_string(), Value::String("3.1.0".to_string()));
    }
    document
}

/// Text for the inside of a JSON string literal.
fn escaped(text: &str) -> String {
    let mut out = String::new();
    pyjson::write_str(&mut out, text);
    out[1..out.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(version: &str) -> Value {
        generated(
            if version == "2" {
                TEMPLATE_2
            } else {
                TEMPLATE_3
            },
            &ServiceInfo::default(),
            version,
        )
    }

    #[test]
    fn version_2_is_swagger_2_with_empty_schemas() {
        let document = document("2");
        assert_eq!(document["swagger"], "2.0");
        assert_eq!(document["info"]["title"], "ML service");
        assert_eq!(
            document["definitions"]["ServiceInput"],
            json!({"type": "object", "example": {}})
        );
        let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
        assert_eq!(paths, ["/", "/score", "/swagger.json"]);
        let text = pyjson::to_string(&document);
        assert!(text.starts_with(r#"{"swagger": "2.0", "info": {"title": "ML service""#));
    }

    #[test]
    fn version_3_1_is_openapi_3_1() {
        assert_eq!(document("3")["openapi"], "3.0.3");
        assert_eq!(document("3.1")["openapi"], "3.1.0");
        assert_eq!(
            document("3.1")["components"]["schemas"]["ServiceOutput"],
            json!({"type": "object", "example": {}})
        );
    }

    #[test]
    fn path_prefix_and_name_are_substituted() {
        let info = ServiceInfo {
            name: "a \"b\"".to_string(),
            version: "2".to_string(),
            path_prefix: "/api/".to_string(),
        };
        let document = generated(TEMPLATE_2, &info, "2");
        assert_eq!(document["info"]["title"], "a \"b\"");
        assert!(document["paths"].get("/api/score").is_some());
    }
}
