//! A story's client: each request sent to the real server and each body, sent and answered,
//! validated against the schema the document gives for its route and status; the routes it
//! reached are counted, so the test knows which it left out.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestServer;

/// The schemas with every object closed, which the published document leaves open so that
/// clients survive a server that adds fields.
pub(crate) fn closed(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(closed);
        }
        Value::Array(items) => items.iter_mut().for_each(closed),
        _ => {}
    }
}

pub(crate) struct Story {
    pub(crate) server: TestServer,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
    pub(crate) document: Value,
    pub(crate) schemas: Value,
    /// `METHOD TEMPLATE` of every route answered with success.
    pub(crate) covered: BTreeSet<String>,
    pub(crate) failures: Vec<String>,
}

impl Story {
    pub(crate) fn media(&self, method: &str, template: &str, status: Option<u16>) -> Option<Value> {
        let operation = &self.document["paths"][template][method];
        let content = match status {
            None => &operation["requestBody"]["content"],
            Some(status) => {
                let responses = &operation["responses"];
                let response = responses
                    .get(status.to_string())
                    .unwrap_or(&responses["default"]);
                &response["content"]
            }
        };
        content.get("application/json").cloned()
    }

    pub(crate) fn validate(&mut self, what: &str, schema: Option<Value>, instance: &Value) {
        let Some(schema) = schema.and_then(|media| media.get("schema").cloned()) else {
            self.failures.push(format!(
                "{what}: a JSON body, but no JSON schema in the document"
            ));
            return;
        };
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": {"schemas": self.schemas},
        });
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
        for error in validator.iter_errors(instance) {
            self.failures.push(format!(
                "{what}: {error} at `{}` in {instance}",
                error.instance_path()
            ));
        }
    }

    /// Checks each path and query parameter sent against the one the document declares: it
    /// must be declared, and its value (read as the declared type) match its schema.
    fn check_parameters(
        &mut self,
        what: &str,
        method: &str,
        template: &str,
        path: &[(&str, &str)],
        query: &[(&str, &str)],
    ) {
        let declared = self.document["paths"][template][method]["parameters"].clone();
        let sent = path
            .iter()
            .map(|p| ("path", p))
            .chain(query.iter().map(|q| ("query", q)));
        for (place, (name, text)) in sent {
            let Some(parameter) = declared.as_array().and_then(|all| {
                all.iter()
                    .find(|p| p["in"] == place && p["name"] == *name)
                    .cloned()
            }) else {
                self.failures.push(format!(
                    "{what}: {place} parameter `{name}` is not in the document"
                ));
                continue;
            };
            let value = match parameter["schema"]["type"].as_str() {
                Some("integer") => text.parse::<i64>().map_or(json!(text), |n| json!(n)),
                Some("boolean") => text.parse::<bool>().map_or(json!(text), |b| json!(b)),
                _ => json!(text),
            };
            self.validate(
                &format!("{what} {place} parameter `{name}`"),
                Some(json!({"schema": parameter["schema"]})),
                &value,
            );
        }
    }

    /// Calls the route `method template` (filled in from `params`), validating the request
    /// body and the answer. Answers the status and the JSON body (`null` for others).
    pub(crate) async fn call(
        &mut self,
        method: &str,
        template: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut path = template.to_string();
        for (name, value) in params {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        assert!(!path.contains('{'), "unfilled parameter in {path}");
        let what = format!("{} {template}", method.to_uppercase());
        self.check_parameters(&what, method, template, params, query);
        let mut request = self
            .http
            .request(
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                self.server.api(&path),
            )
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            self.validate(
                &format!("{what} request"),
                self.media(method, template, None),
                body,
            );
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let json = response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
        let bytes = response.bytes().await.unwrap();
        let value: Value = if json {
            serde_json::from_slice(&bytes).unwrap()
        } else {
            Value::Null
        };
        self.answered(&what, method, template, status, json.then_some(&value));
        (status, value)
    }

    /// Checks an answer against the document: a success status it lists, and a JSON body
    /// exactly when it gives one.
    pub(crate) fn answered(
        &mut self,
        what: &str,
        method: &str,
        template: &str,
        status: StatusCode,
        body: Option<&Value>,
    ) {
        let code = status.as_u16();
        let documented = self.document["paths"][template][method]["responses"]
            .get(code.to_string())
            .is_some();
        if status.is_success() {
            if !documented {
                self.failures
                    .push(format!("{what}: answered {status}, not in the document"));
            }
            self.covered.insert(format!("{method} {template}"));
        }
        let schema = self.media(method, template, Some(code));
        match body {
            Some(body) => self.validate(&format!("{what} {status}"), schema, body),
            None if schema.is_some() => self
                .failures
                .push(format!("{what}: {status} without the JSON body documented")),
            None => {}
        }
    }

    /// Calls a route that must succeed with `status`.
    pub(crate) async fn expect(
        &mut self,
        status: u16,
        method: &str,
        template: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Value {
        let (got, value) = self
            .call(method, template, params, query, body.as_ref())
            .await;
        assert_eq!(
            got.as_u16(),
            status,
            "{} {template}: {value}",
            method.to_uppercase()
        );
        value
    }

    /// Sends raw bytes (blob uploads, log appends), validating the JSON answer.
    pub(crate) async fn send_raw(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method.clone(), self.server.api(path))
            .bearer_auth(&self.token)
            .query(query)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        let lower = method.as_str().to_lowercase();
        let what = format!("{method} {template}");
        self.check_parameters(&what, &lower, template, &[], query);
        self.answered(&what, &lower, template, status, Some(&value));
        (status, value)
    }
}
