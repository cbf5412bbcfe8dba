//! The pages as a plain function from a [`Request`] to a [`Response`], independent of the HTTP
//! server: `strata ui` serves it with hyper on 127.0.0.1, and a team server can mount it
//! under `/w/{workspace}` by passing that prefix as the base path.

use std::sync::{Mutex, MutexGuard};

use strata_store::{StoreError, Workspace};

use crate::html::{esc, layout};
use crate::pages;

/// The Content-Security-Policy of every response: nothing but this origin's stylesheet and
/// icon; no script at all; forms post only here; no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("../assets/style.css");
const ICON: &str = include_str!("../assets/icon.svg");

/// Errors of the web page.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Reading the workspace failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The workspace lock was poisoned by a panic in another request.
    #[error("The workspace handle was poisoned by an earlier failure")]
    Poisoned,
    /// The runtime or the signal handlers could not start.
    #[error("Cannot start the web server")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
    /// Binding or serving the socket failed.
    #[error("Cannot serve on `{address}`")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// One HTTP request as the pages see it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The path below the base path, starting with `/`.
    pub path: String,
    /// Query parameters in order, decoded.
    pub query: Vec<(String, String)>,
    /// Form fields of a `POST` (`application/x-www-form-urlencoded`), decoded.
    pub form: Vec<(String, String)>,
}

impl Request {
    /// A request from a path with its raw query string and a raw form body.
    pub fn new(method: &str, path: &str, raw_query: Option<&str>, body: &[u8]) -> Self {
        let decode = |bytes: &[u8]| -> Vec<(String, String)> {
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        };
        Self {
            method: method.to_string(),
            path: path.to_string(),
            query: decode(raw_query.unwrap_or("").as_bytes()),
            form: decode(body),
        }
    }

    /// The first value of a query parameter, if not empty.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of a repeated query parameter.
    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One response: status, content type, extra headers and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn html(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// A file download, named after the last part of `path` (reduced to safe characters).
    pub fn download(path: &str, bytes: Vec<u8>) -> Self {
        let name: String = path
            .rsplit('/')
            .next()
            .unwrap_or("download")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            status: 200,
            content_type: "application/octet-stream",
            headers: vec![(
                "content-disposition",
                format!("attachment; filename=\"{name}\""),
            )],
            body: bytes,
        }
    }
}

/// The web page over one workspace.
#[derive(Debug)]
pub struct Ui {
    workspace: Mutex<Workspace>,
    base: String,
    csrf_token: String,
}

/// What a page handler returns.
pub(crate) type PageResult<T = Response> = Result<T, UiError>;

/// A page found nothing to show: 404 with a message (escaped).
pub(crate) fn not_found(base: &str, message: &str) -> Response {
    Response::html(
        404,
        layout(base, "Not found", &format!("<p>{}</p>", esc(message)), None),
    )
}

impl Ui {
    /// The pages of `workspace`, linked under `base` (`""` for `strata ui`, `/w/NAME` on a
    /// server). A new random token protects the one form that posts (service scoring).
    pub fn new(workspace: Workspace, base: &str) -> Self {
        Self {
            workspace: Mutex::new(workspace),
            base: base.trim_end_matches('/').to_string(),
            csrf_token: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    pub(crate) fn workspace(&self) -> Result<MutexGuard<'_, Workspace>, UiError> {
        self.workspace.lock().map_err(|_| UiError::Poisoned)
    }

    /// Answers one request. Never fails: errors become a 500 page that names no internals
    /// beyond the store's message (the page is local; a server logs instead).
    pub fn handle(&self, request: &Request) -> Response {
        let mut response = match self.route(request) {
            Ok(response) => response,
            Err(UiError::Store(StoreError::NotFound { what })) => {
                not_found(&self.base, &format!("{what} was not found"))
            }
            Err(error) => {
                tracing::error!("ui: {} {}: {error}", request.method, request.path);
                Response::html(
                    500,
                    layout(
                        &self.base,
                        "Error",
                        &format!("<p>{}</p>", esc(&error.to_string())),
                        None,
                    ),
                )
            }
        };
        response.headers.push((
            "content-security-policy",
            CONTENT_SECURITY_POLICY.to_string(),
        ));
        response
            .headers
            .push(("x-content-type-options", "nosniff".to_string()));
        response
            .headers
            .push(("referrer-policy", "no-referrer".to_string()));
        response
            .headers
            .push(("cache-control", "no-store".to_string()));
        response
    }

    fn route(&self, request: &Request) -> PageResult {
        let base = &self.base;
        let method = request.method.as_str();
        if method == "POST" {
            return match request.path.as_str() {
                "/service/score" => pages::services::score(self, request),
                _ => Ok(method_not_allowed(base)),
            };
        }
        if method != "GET" && method != "HEAD" {
            return Ok(method_not_allowed(base));
        }
        match request.path.as_str() {
            "/static/style.css" => Ok(Response {
                status: 200,
                content_type: "text/css; charset=utf-8",
                headers: Vec::new(),
                body: STYLE.as_bytes().to_vec(),
            }),
            "/static/icon.svg" | "/favicon.ico" => Ok(Response {
                status: 200,
                content_type: "image/svg+xml",
                headers: Vec::new(),
                body: ICON.as_bytes().to_vec(),
            }),
            "/" => pages::home(self),
            "/environments" => pages::environments::list(self, request),
            "/environment" => pages::environments::versions(self, request),
            "/environment/version" => pages::environments::version(self, request),
            "/build-log" => pages::environments::build_log(self, request),
            "/diff" => pages::environments::diff(self, request),
            "/experiments" => pages::runs::experiments(self, request),
            "/runs" => pages::runs::list(self, request),
            "/run" => pages::runs::run(self, request),
            "/run/file" => pages::runs::file(self, request),
            "/compare" => pages::runs::compare(self, request),
            "/models" => pages::models::list(self, request),
            "/model" => pages::models::versions(self, request),
            "/model/version" => pages::models::version(self, request),
            "/model/file" => pages::models::file(self, request),
            "/services" => pages::services::list(self, request),
            "/service" => pages::services::service(self, request),
            _ => Ok(not_found(base, "No such page")),
        }
    }
}

fn method_not_allowed(base: &str) -> Response {
    Response::html(
        405,
        layout(
            base,
            "Method not allowed",
            "<p>This page is read-only.</p>",
            None,
        ),
    )
}
