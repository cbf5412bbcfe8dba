//! [`RemoteStore`]: a workspace on a team server, behind [`WorkspaceStore`].

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use strata_spec::{Environment, EnvironmentVersion, Lock};
use strata_store::store::{
    CursorPage, EnvironmentQuery, LogChunk, RunQuery, RunUpdate, WorkspaceStore, collect_all,
    list_to_wire, run_from_wire, to_wire,
};
use strata_store::{
    BuildRecord, DefinitionDocument, EnvironmentDocument, EnvironmentLabel, EnvironmentRecord,
    EnvironmentSummary, LatestLock, LockRecord, Metric, ModelRecord, PackageUse, RegisterOptions,
    Registration, RunJob, RunRecord, ServiceRecord, StoreError, TargetRecord,
};
use url::Url;

use crate::errors::{from_response, from_transport};
use crate::location::Location;
use crate::{ClientError, Token};

/// A workspace on a Strata server, from its URL `http(s)://host[:port]/w/{workspace}` and a
/// token. Implements the same traits as a local workspace.
#[derive(Debug, Clone)]
pub struct RemoteStore {
    pub(crate) http: reqwest::Client,
    pub(crate) location: Location,
    pub(crate) workspace: String,
    pub(crate) url: String,
    pub(crate) token: Token,
}

/// The HTTP client every request of this crate goes through.
pub(crate) fn http_client() -> Result<reqwest::Client, StoreError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StoreError::Backend {
            what: "Setting up the HTTP client".to_string(),
            message: e.to_string(),
        })
}

impl RemoteStore {
    /// The workspace at `workspace_url`, reached with `token`.
    pub fn new(workspace_url: &str, token: impl Into<Token>) -> Result<Self, ClientError> {
        Self::with_client(workspace_url, token, http_client()?)
    }

    /// As [`Self::new`], with a client of the caller's (proxies, timeouts, certificates).
    pub fn with_client(
        workspace_url: &str,
        token: impl Into<Token>,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        let location = Location::parse(workspace_url)?;
        let workspace = location
            .workspace
            .clone()
            .ok_or_else(|| ClientError::InvalidUrl {
                url: workspace_url.to_string(),
                reason: "a workspace URL ends in `/w/WORKSPACE`".to_string(),
            })?;
        Ok(Self {
            http,
            url: format!("{}/w/{workspace}", location.server_key()),
            location,
            workspace,
            token: token.into(),
        })
    }

    /// The workspace's name on its server.
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// `.../api/v1/workspaces/{ws}/` followed by `segments`.
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut all = vec!["workspaces", self.workspace.as_str()];
        all.extend_from_slice(segments);
        self.location.api(&all)
    }

    pub(crate) fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.http
            .request(method, self.endpoint(segments))
            .bearer_auth(self.token.expose())
    }

    /// Sends a request; any answer, success or not.
    pub(crate) async fn send_raw(&self, request: RequestBuilder) -> Result<Response, StoreError> {
        request
            .send()
            .await
            .map_err(|e| from_transport(&e, &self.url))
    }

    /// The error a failed answer stands for.
    pub(crate) async fn failure(&self, response: Response) -> StoreError {
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        from_response(status, &body, &self.url)
    }

    /// Sends a request; a success or its error.
    pub(crate) async fn send(&self, request: RequestBuilder) -> Result<Response, StoreError> {
        let response = self.send_raw(request).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.failure(response).await)
        }
    }

    pub(crate) async fn decode<T: DeserializeOwned>(
        &self,
        response: Response,
    ) -> Result<T, StoreError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| from_transport(&e, &self.url))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Backend {
            what: format!("Reading an answer of `{}`", self.url),
            message: e.to_string(),
        })
    }

    /// A run as the API sends it, with its cancel request.
    fn run(&self, value: serde_json::Value) -> Result<RunRecord, StoreError> {
        run_from_wire(value).map_err(|e| StoreError::Backend {
            what: format!("Reading a run from `{}`", self.url),
            message: e.to_string(),
        })
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, StoreError> {
        let response = self.send(request).await?;
        self.decode(response).await
    }
}

fn page_query(cursor: Option<&str>, limit: usize) -> Vec<(&'static str, String)> {
    let mut query = vec![("limit", limit.clamp(1, 500).to_string())];
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor.to_string()));
    }
    query
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisterRequest<'a> {
    #[serde(flatten)]
    definition: &'a DefinitionDocument,
    anonymous: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationBody {
    #[serde(flatten)]
    document: EnvironmentDocument,
    created: bool,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Tag {
    key: String,
    value: Option<String>,
}

#[derive(Deserialize)]
struct Appended {
    length: u64,
}

#[async_trait]
impl WorkspaceStore for RemoteStore {
    fn location(&self) -> String {
        self.url.clone()
    }

    async fn register_environment(
        &self,
        environment: Environment,
        options: RegisterOptions,
    ) -> Result<Registration, StoreError> {
        let name = environment.name.clone().unwrap_or_default();
        strata_spec::validate_name(&name)?;
        let definition = DefinitionDocument::of(&environment);
        let body = RegisterRequest {
            definition: &definition,
            anonymous: options.anonymous,
        };
        let explicit = environment
            .version
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let request = match explicit {
            Some(version) => {
                let version = EnvironmentVersion::parse(version)?;
                self.request(
                    Method::PUT,
                    &["environments", &name, "versions", version.as_str()],
                )
            }
            None => self.request(Method::POST, &["environments", &name, "versions"]),
        };
        let answer: RegistrationBody = self.json(request.json(&body)).await?;
        Ok(Registration {
            record: answer.document.into_record()?,
            created: answer.created,
            warnings: answer.warnings,
        })
    }

    async fn get_environment(
        &self,
        name: &str,
        version: Option<&EnvironmentVersion>,
    ) -> Result<EnvironmentRecord, StoreError> {
        let request = match version {
            Some(version) => self.request(
                Method::GET,
                &["environments", name, "versions", version.as_str()],
            ),
            None => self.request(Method::GET, &["environments", name]),
        };
        let document: EnvironmentDocument = self.json(request).await?;
        document.into_record()
    }

    async fn list_environments(
        &self,
        query: &EnvironmentQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentSummary>, StoreError> {
        let mut params = page_query(cursor, limit);
        params.push(("allVersions", query.all_versions.to_string()));
        params.push(("includeAnonymous", query.include_anonymous.to_string()));
        if let Some(prefix) = &query.prefix {
            params.push(("prefix", prefix.clone()));
        }
        if let Some(name) = &query.name {
            params.push(("name", name.clone()));
        }
        self.json(self.request(Method::GET, &["environments"]).query(&params))
            .await
    }

    async fn get_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<LockRecord>, StoreError> {
        let request = self.request(
            Method::GET,
            &["environments", name, "versions", version.as_str(), "locks"],
        );
        let response = self.send_raw(request).await?;
        if response.status() == StatusCode::NOT_FOUND {
            let body = response.bytes().await.unwrap_or_default();
            let no_lock = serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|v| v["details"]["kind"] == "no_lock");
            if no_lock {
                return Ok(None);
            }
            return Err(from_response(404, &body, &self.url));
        }
        if !response.status().is_success() {
            return Err(self.failure(response).await);
        }
        self.decode(response).await.map(Some)
    }

    async fn set_lock(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        lock: &Lock,
    ) -> Result<LockRecord, StoreError> {
        let request = self.request(
            Method::PUT,
            &["environments", name, "versions", version.as_str(), "locks"],
        );
        self.json(request.json(lock)).await
    }

    async fn latest_locks(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<LatestLock>, StoreError> {
        let request = self.request(Method::GET, &["locks"]);
        self.json(request.query(&page_query(cursor, limit))).await
    }

    async fn package_uses(
        &self,
        ecosystem: &str,
        package: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<PackageUse>, StoreError> {
        let request = self.request(Method::GET, &["packages", ecosystem, package]);
        self.json(request.query(&page_query(cursor, limit))).await
    }

    async fn label_environment(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        labels: &[String],
    ) -> Result<(), StoreError> {
        // All checked before any is sent, so a bad one leaves every label as it was.
        for label in labels {
            strata_store::validate_label(label)?;
        }
        for label in labels {
            let request = self.request(Method::PUT, &["environments", name, "labels", label]);
            let body = serde_json::json!({ "version": version });
            self.send(request.json(&body)).await?;
        }
        Ok(())
    }

    async fn labelled_version(
        &self,
        name: &str,
        label: &str,
    ) -> Result<EnvironmentVersion, StoreError> {
        let request = self.request(Method::GET, &["environments", name, "labels", label]);
        let labelled: EnvironmentLabel = self.json(request).await?;
        Ok(labelled.version)
    }

    async fn environment_labels(
        &self,
        name: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentLabel>, StoreError> {
        let request = self.request(Method::GET, &["environments", name, "labels"]);
        self.json(request.query(&page_query(cursor, limit))).await
    }

    async fn record_build(&self, record: &BuildRecord) -> Result<(), StoreError> {
        let request = self.request(
            Method::POST,
            &[
                "environments",
                &record.name,
                "versions",
                record.version.as_str(),
                "builds",
            ],
        );
        self.send(request.json(&to_wire(record))).await.map(drop)
    }

    async fn list_builds(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<BuildRecord>, StoreError> {
        let request = self.request(
            Method::GET,
            &["environments", name, "versions", version.as_str(), "builds"],
        );
        self.json(request.query(&page_query(cursor, limit))).await
    }

    async fn create_run(&self, run: &RunRecord) -> Result<RunRecord, StoreError> {
        let value = self
            .json(self.request(Method::POST, &["runs"]).json(&to_wire(run)))
            .await?;
        self.run(value)
    }

    async fn update_run(&self, id: &str, update: &RunUpdate) -> Result<RunRecord, StoreError> {
        let value = self
            .json(self.request(Method::PATCH, &["runs", id]).json(update))
            .await?;
        self.run(value)
    }

    async fn update_run_if_match(
        &self,
        id: &str,
        update: &RunUpdate,
        if_match: &str,
    ) -> Result<RunRecord, StoreError> {
        let request = self
            .request(Method::PATCH, &["runs", id])
            .header(reqwest::header::IF_MATCH, if_match)
            .json(update);
        let value = self.json(request).await?;
        self.run(value)
    }

    async fn get_run(&self, id: &str) -> Result<RunRecord, StoreError> {
        let value = self.json(self.request(Method::GET, &["runs", id])).await?;
        self.run(value)
    }

    async fn list_runs(
        &self,
        query: &RunQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<RunRecord>, StoreError> {
        let mut params = page_query(cursor, limit);
        if let Some(experiment) = &query.experiment {
            params.push(("experiment", experiment.clone()));
        }
        if let Some(status) = &query.status {
            params.push(("status", status.clone()));
        }
        let page: CursorPage<serde_json::Value> = self
            .json(self.request(Method::GET, &["runs"]).query(&params))
            .await?;
        Ok(CursorPage {
            items: page
                .items
                .into_iter()
                .map(|value| self.run(value))
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }

    async fn add_metrics(&self, id: &str, metrics: &[Metric]) -> Result<(), StoreError> {
        let request = self.request(Method::POST, &["runs", id, "metrics"]);
        self.send(request.json(&list_to_wire(metrics)))
            .await
            .map(drop)
    }

    async fn run_metrics(&self, id: &str) -> Result<Vec<Metric>, StoreError> {
        collect_all(|cursor| async move {
            let request = self.request(Method::GET, &["runs", id, "metrics"]);
            self.json(request.query(&page_query(cursor.as_deref(), 500)))
                .await
        })
        .await
    }

    async fn set_run_tag(
        &self,
        id: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let tag = Tag {
            key: key.to_string(),
            value: value.map(str::to_string),
        };
        let request = self.request(Method::PUT, &["runs", id, "tags"]);
        self.send(request.json(&tag)).await.map(drop)
    }

    async fn run_tags(&self, id: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let tags: Vec<Tag> = collect_all(|cursor| async move {
            let request = self.request(Method::GET, &["runs", id, "tags"]);
            self.json(request.query(&page_query(cursor.as_deref(), 500)))
                .await
        })
        .await?;
        Ok(tags.into_iter().map(|t| (t.key, t.value)).collect())
    }

    async fn append_run_log(&self, id: &str, offset: u64, text: &str) -> Result<u64, StoreError> {
        let request = self
            .request(Method::POST, &["runs", id, "log"])
            .query(&[("offset", offset)])
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(text.to_string());
        let appended: Appended = self.json(request).await?;
        Ok(appended.length)
    }

    async fn read_run_log(&self, id: &str, offset: u64, max: u64) -> Result<LogChunk, StoreError> {
        let request = self
            .request(Method::GET, &["runs", id, "log"])
            .query(&[("offset", offset), ("max", max)]);
        self.json(request).await
    }

    async fn register_model(&self, model: ModelRecord) -> Result<ModelRecord, StoreError> {
        let request = self.request(Method::POST, &["models", &model.name, "versions"]);
        self.json(request.json(&to_wire(&model))).await
    }

    async fn get_model(&self, name: &str, version: Option<u64>) -> Result<ModelRecord, StoreError> {
        let request = match version {
            Some(version) => self.request(
                Method::GET,
                &["models", name, "versions", &version.to_string()],
            ),
            None => self.request(Method::GET, &["models", name]),
        };
        self.json(request).await
    }

    async fn list_models(
        &self,
        all_versions: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ModelRecord>, StoreError> {
        let mut params = page_query(cursor, limit);
        params.push(("allVersions", all_versions.to_string()));
        self.json(self.request(Method::GET, &["models"]).query(&params))
            .await
    }

    async fn put_service(&self, service: &ServiceRecord) -> Result<(), StoreError> {
        let request = self.request(Method::PUT, &["services", &service.name]);
        self.send(request.json(&to_wire(service))).await.map(drop)
    }

    async fn put_service_if_match(
        &self,
        service: &ServiceRecord,
        if_match: &str,
    ) -> Result<(), StoreError> {
        let request = self
            .request(Method::PUT, &["services", &service.name])
            .header(reqwest::header::IF_MATCH, if_match);
        self.send(request.json(&to_wire(service))).await.map(drop)
    }

    async fn get_service(&self, name: &str) -> Result<ServiceRecord, StoreError> {
        self.json(self.request(Method::GET, &["services", name]))
            .await
    }

    async fn list_services(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<ServiceRecord>, StoreError> {
        let request = self.request(Method::GET, &["services"]);
        self.json(request.query(&page_query(cursor, limit))).await
    }

    async fn attach_target(
        &self,
        name: &str,
        kind: &str,
        settings: &serde_json::Value,
    ) -> Result<TargetRecord, StoreError> {
        strata_store::validate_target_name(name)?;
        let body = serde_json::json!({"kind": kind, "settings": settings});
        let request = self.request(Method::PUT, &["targets", name]);
        self.json(request.json(&body)).await
    }

    async fn get_target(&self, name: &str) -> Result<TargetRecord, StoreError> {
        self.json(self.request(Method::GET, &["targets", name]))
            .await
    }

    async fn list_targets(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<TargetRecord>, StoreError> {
        let request = self.request(Method::GET, &["targets"]);
        self.json(request.query(&page_query(cursor, limit))).await
    }

    async fn detach_target(&self, name: &str) -> Result<(), StoreError> {
        self.send(self.request(Method::DELETE, &["targets", name]))
            .await
            .map(drop)
    }

    async fn set_run_job(&self, job: &RunJob) -> Result<(), StoreError> {
        let request = self.request(Method::PUT, &["runs", &job.run_id, "job"]);
        self.send(request.json(&to_wire(job))).await.map(drop)
    }

    async fn get_run_job(&self, run_id: &str) -> Result<Option<RunJob>, StoreError> {
        let response = self
            .send(self.request(Method::GET, &["runs", run_id, "job"]))
            .await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        self.decode(response).await.map(Some)
    }
}
