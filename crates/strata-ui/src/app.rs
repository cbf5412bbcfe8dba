//! The pages as a plain function from a [`Request`] to a [`Response`], independent of the HTTP
//! server: `strata ui` serves it with hyper on 127.0.0.1, and a team server can mount it
//! under `/w/{workspace}` by passing that prefix as the base path.

use std::sync::Arc;

use strata_store::store::{BlobStorage, BrowseStore, Role, SqliteStore, WorkspaceStore as _};
use strata_store::{Manifest, StoreError};

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
    /// A blob could not be staged for reading.
    #[error("Cannot stage a stored file for reading")]
    Staging {
        #[source]
        source: std::io::Error,
    },
    /// A stored manifest is not valid JSON.
    #[error("The stored manifest `{digest}` is corrupt")]
    CorruptManifest {
        digest: String,
        #[source]
        source: serde_json::Error,
    },
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
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

/// What a response sends: a rendered page, or a stored file staged on disk and streamed (a
/// model may be gigabytes; it never has to fit in memory). The staged copy is removed when
/// the body is dropped.
#[derive(Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    File(tempfile::TempPath),
}

impl Response {
    pub fn html(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: Body::Bytes(body.into_bytes()),
        }
    }

    /// A file download, named after the last part of `path` (reduced to safe characters).
    pub fn download(path: &str, staged: tempfile::TempPath) -> Self {
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
            body: Body::File(staged),
        }
    }
}

/// Who is looking at a team server's pages (`None` for `strata ui`, where whoever can reach
/// 127.0.0.1 owns the workspace anyway).
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: String,
    pub role: Role,
}

/// The web page over one workspace.
pub struct Ui {
    store: Arc<dyn BrowseStore>,
    blobs: Arc<dyn BlobStorage>,
    base: String,
    label: String,
    csrf_token: String,
    viewer: Option<Viewer>,
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui")
            .field("base", &self.base)
            .field("label", &self.label)
            .field("viewer", &self.viewer)
            .finish_non_exhaustive()
    }
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
    /// The pages of a workspace directory, for `strata ui`: linked from the root, named by
    /// the directory, with a new random token protecting the one form that posts (service
    /// scoring).
    pub fn local(store: SqliteStore) -> Self {
        let blobs = Arc::new(store.blobs());
        let label = store.location();
        Self::new(
            Arc::new(store),
            blobs,
            "",
            &label,
            &uuid::Uuid::new_v4().simple().to_string(),
            None,
        )
    }

    /// The pages of any workspace behind the interfaces, linked under `base` (`/w/NAME` on a
    /// server) and shown as `label`. `csrf_token` is what posting forms must carry (a
    /// server derives it from the viewer's session).
    pub fn new(
        store: Arc<dyn BrowseStore>,
        blobs: Arc<dyn BlobStorage>,
        base: &str,
        label: &str,
        csrf_token: &str,
        viewer: Option<Viewer>,
    ) -> Self {
        Self {
            store,
            blobs,
            base: base.trim_end_matches('/').to_string(),
            label: label.to_string(),
            csrf_token: csrf_token.to_string(),
            viewer,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    pub(crate) fn store(&self) -> &dyn BrowseStore {
        self.store.as_ref()
    }

    /// Scoring a service posts from this process to the service's port on 127.0.0.1, which
    /// is the service only where it was deployed: `strata ui` on that machine. A server's
    /// services run on their deploying hosts, and the server must not become a way to send
    /// requests into its own network.
    pub(crate) fn can_score(&self) -> bool {
        self.viewer.is_none()
    }

    /// The "signed in as" line of a server's start page, with its sign-out form.
    pub(crate) fn signed_in_note(&self) -> String {
        let Some(viewer) = &self.viewer else {
            return String::new();
        };
        format!(
            "<form class=\"search\" method=\"post\" action=\"{}\">Signed in as <strong>{}</strong> ({}) \
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Sign out</button></form>",
            esc(&format!("{}/logout", self.base)),
            esc(&viewer.user),
            esc(viewer.role.as_str()),
            esc(&self.csrf_token),
        )
    }

    /// A stored blob copied to a temporary file, checked against its digest by the store.
    pub(crate) async fn stage_blob(&self, digest: &str) -> PageResult<tempfile::TempPath> {
        let staged = tempfile::NamedTempFile::new()
            .map_err(|source| UiError::Staging { source })?
            .into_temp_path();
        self.blobs.get_to_file(digest, &staged).await?;
        Ok(staged)
    }

    /// The bytes of a stored blob that a page shows (a manifest, a log).
    pub(crate) async fn read_blob(&self, digest: &str) -> PageResult<Vec<u8>> {
        let staged = self.stage_blob(digest).await?;
        tokio::fs::read(&staged)
            .await
            .map_err(|source| UiError::Staging { source })
    }

    pub(crate) async fn read_manifest(&self, digest: &str) -> PageResult<Manifest> {
        let bytes = self.read_blob(digest).await?;
        serde_json::from_slice(&bytes).map_err(|source| UiError::CorruptManifest {
            digest: digest.to_string(),
            source,
        })
    }

    /// Answers one request. Never fails: errors become a 500 page that names no internals
    /// beyond the store's message (the page is local; a server logs instead).
    pub async fn handle(&self, request: &Request) -> Response {
        let response = match self.route(request).await {
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
        secured(response)
    }

    async fn route(&self, request: &Request) -> PageResult {
        let base = &self.base;
        let method = request.method.as_str();
        if method == "POST" {
            return match request.path.as_str() {
                "/service/score" => pages::services::score(self, request).await,
                _ => Ok(method_not_allowed(base)),
            };
        }
        if method != "GET" && method != "HEAD" {
            return Ok(method_not_allowed(base));
        }
        if let Some(response) = unsecured_asset(&request.path) {
            return Ok(response);
        }
        match request.path.as_str() {
            "/" => pages::home(self).await,
            "/environments" => pages::environments::list(self, request).await,
            "/environment" => pages::environments::versions(self, request).await,
            "/environment/version" => pages::environments::version(self, request).await,
            "/build-log" => pages::environments::build_log(self, request).await,
            "/diff" => pages::environments::diff(self, request).await,
            "/experiments" => pages::runs::experiments(self, request).await,
            "/runs" => pages::runs::list(self, request).await,
            "/run" => pages::runs::run(self, request).await,
            "/run/file" => pages::runs::file(self, request).await,
            "/compare" => pages::runs::compare(self, request).await,
            "/models" => pages::models::list(self, request).await,
            "/model" => pages::models::versions(self, request).await,
            "/model/version" => pages::models::version(self, request).await,
            "/model/file" => pages::models::file(self, request).await,
            "/services" => pages::services::list(self, request).await,
            "/service" => pages::services::service(self, request).await,
            _ => Ok(not_found(base, "No such page")),
        }
    }
}

/// The stylesheet and the icon, which every page links (the sign-in page too, so a server
/// serves them without a session).
pub fn asset(path: &str) -> Option<Response> {
    unsecured_asset(path).map(secured)
}

fn unsecured_asset(path: &str) -> Option<Response> {
    let (content_type, body) = match path {
        "/static/style.css" => ("text/css; charset=utf-8", STYLE),
        "/static/icon.svg" | "/favicon.ico" => ("image/svg+xml", ICON),
        _ => return None,
    };
    Some(Response {
        status: 200,
        content_type,
        headers: Vec::new(),
        body: Body::Bytes(body.as_bytes().to_vec()),
    })
}

/// A response with the headers every page carries: the strict policy, no sniffing, no
/// referrer, no caching.
pub fn secured(mut response: Response) -> Response {
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

/// A team server's sign-in page for the workspace at `base`: a form that posts a token (never
/// in the URL) with the sign-in form's own CSRF token.
pub fn sign_in_page(
    status: u16,
    base: &str,
    workspace: &str,
    csrf: &str,
    error: Option<&str>,
) -> Response {
    let error = error
        .map(|text| format!("<p class=\"error\">{}</p>", esc(text)))
        .unwrap_or_default();
    let body = format!(
        "{error}<p>Workspace <code>{}</code> on this server. Sign in with a token \
         (<code>strata server token create</code>, or ask an owner of the workspace).</p>\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Token <input type=\"password\" name=\"token\" autocomplete=\"off\" size=\"60\" \
         placeholder=\"strata_pat_…\" required></label> <button type=\"submit\">Sign in</button></form>",
        esc(workspace),
        esc(&format!("{base}/login")),
        esc(csrf),
    );
    secured(Response::html(status, layout(base, "Sign in", &body, None)))
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
