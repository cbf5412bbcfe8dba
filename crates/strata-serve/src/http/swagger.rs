//! `GET /swagger.json[?version=2|2.0|3|3.0|3.1]`: azmlinfsrv's documents, built once (and again on
//! reload). A `swagger.json` or `swagger2.json` in the app root replaces version 2, and
//! `swagger3.json` or `swagger3.1.json` replace 3 and 3.1 (azmlinfsrv's file names), served as
//! they are. Otherwise the document comes from azmlinfsrv's templates (MIT licence), with the
//! `ServiceInput` and `ServiceOutput` schemas of `run()`'s inference-schema decorators (examples
//! included), or empty ones for an undecorated `run()`; a version the decorators' types cannot
//! express is not offered. Every document is rendered as Python's `json.dumps` renders it.

use std::path::Path;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::log::Log;
use crate::pyjson;

const TEMPLATE_2: &str = include_str!("swagger2_template.json");
const TEMPLATE_3: &str = include_str!("swagger3_template.json");

/// The documents by version (`None`: not offered for this script).
#[derive(Debug, Clone)]
pub(crate) struct Swagger {
    version_2: Option<Bytes>,
    version_3: Option<Bytes>,
    version_3_1: Option<Bytes>,
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
    /// The documents for a script; `schema` is what its decorators declare
    /// (`{"input", "output", "versions"}`), if any.
    pub(crate) fn load(
        app_root: &Path,
        info: &ServiceInfo,
        schema: Option<&Value>,
        log: &Log,
    ) -> Self {
        let offered = |aliases: &[&str]| match schema.and_then(|schema| schema.get("versions")) {
            Some(Value::Array(versions)) => versions
                .iter()
                .any(|version| aliases.iter().any(|alias| version.as_str() == Some(alias))),
            _ => true,
        };
        let document = |names: &[&str], template: &str, version: &str, aliases: &[&str]| {
            user_document(app_root, names, log)
                .or_else(|| offered(aliases).then(|| generated(template, info, version, schema)))
                .map(|document| Bytes::from(pyjson::to_string(&document)))
        };
        Self {
            version_2: document(
                &["swagger.json", "swagger2.json"],
                TEMPLATE_2,
                "2",
                &["2", "2.0"],
            ),
            version_3: document(&["swagger3.json"], TEMPLATE_3, "3", &["3", "3.0"]),
            version_3_1: document(&["swagger3.1.json"], TEMPLATE_3, "3.1", &["3.1"]),
        }
    }

    /// The document for a `version` parameter, or azmlinfsrv's 404 message.
    pub(crate) fn get(&self, version: &str) -> Result<Bytes, String> {
        let document = match version {
            "2" | "2.0" => &self.version_2,
            "3" | "3.0" => &self.version_3,
            "3.1" => &self.version_3_1,
            _ => {
                return Err(format!(
                    "Swagger version [{version}] is not valid. Supported versions: [{}].",
                    self.supported()
                ));
            }
        };
        document.clone().ok_or_else(|| {
            format!(
                "Swagger version [{version}] is not supported for the scoring script. Supported \
                 swagger versions: [{}].",
                self.supported()
            )
        })
    }

    fn supported(&self) -> String {
        [
            ("2", &self.version_2),
            ("3", &self.version_3),
            ("3.1", &self.version_3_1),
        ]
        .iter()
        .filter(|(_, document)| document.is_some())
        .map(|(version, _)| *version)
        .collect::<Vec<_>>()
        .join(", ")
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

fn generated(template: &str, info: &ServiceInfo, version: &str, schema: Option<&Value>) -> Value {
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
    let (input, output) = match schema {
        Some(schema) => (
            schema
                .get("input")
                .cloned()
                .unwrap_or_else(|| empty.clone()),
            schema
                .get("output")
                .cloned()
                .unwrap_or_else(|| empty.clone()),
        ),
        None => (empty.clone(), empty),
    };
    let schemas = if version == "2" {
        document.get_mut("definitions")
    } else {
        document
            .get_mut("components")
            .and_then(|components| components.get_mut("schemas"))
    };
    if let Some(Value::Object(schemas)) = schemas {
        schemas.insert("ServiceInput".to_string(), input);
        schemas.insert("ServiceOutput".to_string(), output);
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
            None,
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
        let document = generated(TEMPLATE_2, &info, "2", None);
        assert_eq!(document["info"]["title"], "a \"b\"");
        assert!(document["paths"].get("/api/score").is_some());
    }

    #[test]
    fn decorators_shape_the_schemas_and_versions() {
        let schema = json!({
            "input": {"type": "object", "properties": {"data": {"type": "array"}}},
            "output": {"type": "number", "example": 1},
            "versions": ["3.0", "3.1"]
        });
        let (logger, app) = (
            crate::log::Logger::start(std::sync::Arc::new(|_: &str| {})),
            tempfile::tempdir().unwrap(),
        );
        let swagger = Swagger::load(
            app.path(),
            &ServiceInfo::default(),
            Some(&schema),
            &logger.log(),
        );
        let three: Value = serde_json::from_slice(&swagger.get("3").unwrap()).unwrap();
        assert_eq!(
            three["components"]["schemas"]["ServiceInput"],
            schema["input"]
        );
        assert_eq!(
            three["components"]["schemas"]["ServiceOutput"],
            schema["output"]
        );
        assert_eq!(
            swagger.get("2").unwrap_err(),
            "Swagger version [2] is not supported for the scoring script. Supported swagger versions: [3, 3.1]."
        );
        assert_eq!(
            swagger.get("4").unwrap_err(),
            "Swagger version [4] is not valid. Supported versions: [3, 3.1]."
        );
    }
}
