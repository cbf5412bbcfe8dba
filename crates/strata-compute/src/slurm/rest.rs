//! Slurm through slurmrestd, its REST API: `POST job/submit`, `GET job/{id}`,
//! `DELETE job/{id}` (and `GET ping`, `GET partitions` to check a target), authenticated by a
//! JWT in `X-SLURM-USER-TOKEN` for the user in `X-SLURM-USER-NAME`.
//!
//! The token comes from `SLURM_JWT` or from `scontrol token`, lives only in this process, and
//! never goes into a URL, a log line or the workspace. The JSON read and written here is the
//! little Strata needs of the OpenAPI versions `v0.0.37` and `v0.0.38` (Slurm 21.08 and
//! 22.05), whose shapes for these fields are the same; `v0.0.36` has no `standard_output` for
//! a job and `v0.0.39`+ changed the shapes, so they are refused rather than half spoken.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ComputeError;
use crate::resources::Amounts;
use crate::slurm::commands::SlurmCommands;
use crate::slurm::{BatchJob, JobInfo, SlurmEngine, none_if_null};

/// The API version a target gets when it names none: the newest Slurm 22.05 serves.
pub const DEFAULT_API_VERSION: &str = "v0.0.38";
/// The API versions whose JSON Strata reads and writes.
pub const SUPPORTED_API_VERSIONS: &[&str] = &["v0.0.37", "v0.0.38"];

/// How a target reaches slurmrestd, as stored in its record (no token: it is looked up each
/// time from the environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestSettings {
    /// The base URL, e.g. `http://127.0.0.1:6820` (a path prefix is kept, for a proxy).
    pub url: String,
    /// The OpenAPI version in the paths, e.g. `v0.0.38`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `X-SLURM-USER-NAME` (default: the token's user, else the user running Strata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_string()
}

impl RestSettings {
    /// Checked settings: an `http(s)` URL without credentials, query or fragment (a token
    /// never travels in a URL), and an API version Strata speaks (`0.0.38` means `v0.0.38`).
    pub fn new(
        url: &str,
        api_version: Option<&str>,
        user: Option<String>,
    ) -> Result<Self, ComputeError> {
        let mut version = api_version
            .unwrap_or(DEFAULT_API_VERSION)
            .trim()
            .to_string();
        if !version.starts_with('v') {
            version.insert(0, 'v');
        }
        let settings = Self {
            url: url.trim().trim_end_matches('/').to_string(),
            api_version: version,
            user: user.filter(|u| !u.trim().is_empty()),
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ComputeError> {
        let invalid =
            |reason: &str| ComputeError::Settings(format!("the REST URL `{}` {reason}", self.url));
        let url = url::Url::parse(&self.url)
            .map_err(|e| invalid(&format!("is not a URL ({e}); use e.g. `http://HOST:6820`")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("is not `http://` or `https://`"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "holds credentials; the token comes from `SLURM_JWT` or `scontrol token`",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "has a query or fragment; the token comes from `SLURM_JWT` or `scontrol token`, never in a URL",
            ));
        }
        if !SUPPORTED_API_VERSIONS.contains(&self.api_version.as_str()) {
            return Err(ComputeError::Settings(format!(
                "the REST API version `{}` is not one Strata speaks ({}; Slurm 21.08 and 22.05)",
                self.api_version,
                SUPPORTED_API_VERSIONS.join(", ")
            )));
        }
        Ok(())
    }
}

/// Where the token came from: only one from `scontrol token` can be renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    Environment,
    Scontrol,
}

/// A JWT and what its payload says (Slurm's tokens carry `exp` and the user in `sun`).
#[derive(Clone)]
struct Token {
    value: String,
    source: TokenSource,
    expires: Option<u64>,
    user: Option<String>,
}

// The token itself never reaches a log line.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"[redacted]")
            .field("source", &self.source)
            .field("expires", &self.expires)
            .field("user", &self.user)
            .finish()
    }
}

impl Token {
    fn new(value: String, source: TokenSource) -> Self {
        let claims = jwt_claims(&value);
        Self {
            expires: claims
                .as_ref()
                .and_then(|c| c.get("exp"))
                .and_then(Value::as_u64),
            user: claims
                .as_ref()
                .and_then(|c| c.get("sun"))
                .and_then(Value::as_str)
                .map(str::to_string),
            value,
            source,
        }
    }
}

/// The payload of a JWT (`header.payload.signature`, base64url), when it is one.
fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&base64url_decode(payload)?).ok()
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(bytes)
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token from `scontrol token` is renewed this long before it expires, so no request
/// goes out with one about to lapse.
const RENEW_BEFORE: u64 = 60;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// slurmrestd waits for slurmctld; a controller it cannot reach takes about 10 s to fail.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The Slurm engine over slurmrestd.
pub struct SlurmRest {
    base: String,
    api_version: String,
    user: String,
    token: Mutex<Token>,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for SlurmRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlurmRest")
            .field("base", &self.base)
            .field("api_version", &self.api_version)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// An answer of slurmrestd: its status and JSON (`Null` when the body is not JSON, e.g. the
/// plain `Authentication failure` of a 401).
struct Answer {
    request: String,
    status: u16,
    body: Value,
    text: String,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    error_number: Option<i64>,
}

impl Answer {
    fn errors(&self) -> Vec<ErrorEntry> {
        self.body
            .get("errors")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default()
    }

    /// What slurmrestd said went wrong, in one line.
    fn detail(&self) -> String {
        let said: Vec<String> = self
            .errors()
            .into_iter()
            .filter_map(|e| {
                let parts: Vec<String> = [e.description, e.error]
                    .into_iter()
                    .flatten()
                    .filter(|p| !p.is_empty())
                    .collect();
                (!parts.is_empty()).then(|| parts.join(": "))
            })
            .collect();
        if !said.is_empty() {
            return said.join("; ");
        }
        let text = self.text.trim();
        if text.is_empty() {
            "no details".to_string()
        } else {
            text.chars().take(200).collect()
        }
    }

    fn refused(&self) -> ComputeError {
        ComputeError::RestRequest {
            request: self.request.clone(),
            status: self.status,
            detail: self.detail(),
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ComputeError> {
        serde_json::from_value(self.body.clone()).map_err(|e| ComputeError::RestAnswer {
            request: self.request.clone(),
            detail: e.to_string(),
        })
    }
}

/// Slurm's error number for a job it does not know (any more).
const INVALID_JOB_ID: i64 = 2017;

impl SlurmRest {
    /// The engine of a target; finds the token (an error now when there is none) but does
    /// not contact slurmrestd yet ([`SlurmEngine::check`] does).
    pub fn connect(settings: &RestSettings) -> Result<Self, ComputeError> {
        settings.validate()?;
        let base = settings.url.trim_end_matches('/').to_string();
        let token = find_token(&base)?;
        check_expiry(&token)?;
        let user = match (&settings.user, &token.user) {
            (Some(user), _) | (None, Some(user)) => user.clone(),
            (None, None) => current_user(),
        };
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ComputeError::RestClient {
                source: Box::new(e),
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ComputeError::RestClient {
                source: Box::new(e),
            })?;
        Ok(Self {
            base,
            api_version: settings.api_version.clone(),
            user,
            token: Mutex::new(token),
            client,
            runtime,
        })
    }

    /// The token to send now, renewed through `scontrol token` when it came from there and
    /// is about to expire.
    fn token(&self) -> Result<String, ComputeError> {
        let mut token = self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let lapsing = token
            .expires
            .is_some_and(|expires| expires <= now_seconds() + RENEW_BEFORE);
        if lapsing && token.source == TokenSource::Scontrol {
            match scontrol_token(&self.base) {
                Ok(renewed) => *token = renewed,
                // The old one still works for a while; try again at the next request.
                Err(error) if token.expires.is_some_and(|e| e > now_seconds()) => {
                    tracing::debug!("renewing the Slurm token: {error}");
                }
                // `scontrol token` worked when the engine started: the controller is away
                // for now, which following a job waits out.
                Err(error) => {
                    return Err(ComputeError::Unreachable {
                        command: "scontrol token".to_string(),
                        detail: error.to_string(),
                    });
                }
            }
        }
        check_expiry(&token)?;
        Ok(token.value.clone())
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ComputeError> {
        let request = format!("{method} /slurm/{}/{path}", self.api_version);
        let url = format!("{}/slurm/{}/{path}", self.base, self.api_version);
        let mut token =
            HeaderValue::from_str(&self.token()?).map_err(|_| ComputeError::RestNoToken {
                url: self.base.clone(),
                detail: "the token holds characters an HTTP header cannot".to_string(),
            })?;
        // Kept out of reqwest's and hyper's debug output.
        token.set_sensitive(true);
        let mut builder = self
            .client
            .request(method, &url)
            .header("X-SLURM-USER-NAME", &self.user)
            .header("X-SLURM-USER-TOKEN", token)
            .header("Accept", "application/json");
        if let Some(body) = body {
            builder = builder
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).unwrap_or_default());
        }
        tracing::debug!("slurmrestd: {request}");
        let (status, bytes) = self
            .runtime
            .block_on(async {
                let response = builder.send().await?;
                let status = response.status().as_u16();
                Ok((status, response.bytes().await?))
            })
            .map_err(|source: reqwest::Error| ComputeError::RestUnreachable {
                url: self.base.clone(),
                source,
            })?;
        let answer = Answer {
            request,
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        };
        if answer.status == 401 {
            return Err(ComputeError::RestAuth {
                url: self.base.clone(),
                user: self.user.clone(),
                request: answer.request,
            });
        }
        Ok(answer)
    }
}

/// `SLURM_JWT`, else a token from `scontrol token` (which needs the Slurm client and munge).
fn find_token(url: &str) -> Result<Token, ComputeError> {
    if let Some(value) = std::env::var("SLURM_JWT")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    {
        return Ok(Token::new(value, TokenSource::Environment));
    }
    scontrol_token(url)
}

fn scontrol_token(url: &str) -> Result<Token, ComputeError> {
    let no_token = |detail: String| ComputeError::RestNoToken {
        url: url.to_string(),
        detail,
    };
    let out = SlurmCommands::default()
        .run_ok("scontrol", &["token".to_string()])
        .map_err(|error| match error {
            ComputeError::ToolMissing { .. } => {
                no_token("`SLURM_JWT` is not set and `scontrol` is not on PATH".to_string())
            }
            error => no_token(format!(
                "`SLURM_JWT` is not set and `scontrol token` failed ({error})"
            )),
        })?;
    // `SLURM_JWT=eyJ...`
    let value = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("SLURM_JWT="))
        .map(str::to_string)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            no_token("`SLURM_JWT` is not set and `scontrol token` printed no token".to_string())
        })?;
    Ok(Token::new(value, TokenSource::Scontrol))
}

fn check_expiry(token: &Token) -> Result<(), ComputeError> {
    let now = now_seconds();
    match token.expires {
        Some(expires) if expires <= now && token.source == TokenSource::Environment => {
            Err(ComputeError::RestTokenExpired {
                seconds_ago: now - expires,
            })
        }
        _ => Ok(()),
    }
}

/// The user running Strata: `USER`, `LOGNAME`, else `id -un` (containers often set neither).
fn current_user() -> String {
    for name in ["USER", "LOGNAME"] {
        if let Ok(user) = std::env::var(name)
            && !user.trim().is_empty()
        {
            return user.trim().to_string();
        }
    }
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string())
}

/// The job's environment: this process's, as `sbatch --export=ALL` passes it, without the
/// token (it authenticates Strata, not the job).
fn job_environment(
    variables: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> BTreeMap<String, String> {
    variables
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k != "SLURM_JWT")
        .collect()
}

/// The body of `POST job/submit`: what `sbatch` gets as options, in slurmrestd's fields.
fn submit_body(job: &BatchJob, amounts: &Amounts, environment: &BTreeMap<String, String>) -> Value {
    let mut properties = json!({
        "name": job.name,
        "current_working_directory": job.workdir.display().to_string(),
        // Without `standard_error`, stderr goes where stdout goes, as with `sbatch --output`.
        "standard_output": job.output.display().to_string(),
        "environment": environment,
        "tasks": 1,
    });
    let fields = [
        ("partition", job.partition.clone().map(Value::from)),
        ("account", job.account.clone().map(Value::from)),
        ("qos", job.qos.clone().map(Value::from)),
        ("cpus_per_task", amounts.cpus.map(Value::from)),
        ("memory_per_node", amounts.memory_megabytes.map(Value::from)),
        (
            "gres",
            amounts.gpus.map(|g| Value::from(format!("gpu:{g}"))),
        ),
        ("time_limit", amounts.time_minutes.map(Value::from)),
    ];
    if let Some(map) = properties.as_object_mut() {
        for (key, value) in fields {
            if let Some(value) = value {
                map.insert(key.to_string(), value);
            }
        }
    }
    json!({"script": job.script, "job": properties})
}

#[derive(Deserialize)]
struct PingAnswer {
    #[serde(default)]
    pings: Vec<Ping>,
}

#[derive(Deserialize)]
struct Ping {
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    ping: Option<String>,
}

#[derive(Deserialize)]
struct PartitionsAnswer {
    #[serde(default)]
    partitions: Vec<Partition>,
}

#[derive(Deserialize)]
struct Partition {
    name: String,
}

#[derive(Deserialize)]
struct SubmitAnswer {
    job_id: Option<u64>,
}

#[derive(Deserialize)]
struct JobsAnswer {
    #[serde(default)]
    jobs: Vec<RestJob>,
}

/// The fields of a job Strata reads.
#[derive(Deserialize)]
struct RestJob {
    #[serde(default)]
    job_id: Option<u64>,
    job_state: String,
    #[serde(default)]
    state_reason: Option<String>,
    #[serde(default)]
    partition: Option<String>,
    #[serde(default)]
    nodes: Option<String>,
    /// The batch script's wait status (`768` is exit code 3, `15` is SIGTERM).
    #[serde(default)]
    exit_code: Option<i64>,
}

impl RestJob {
    fn info(self) -> JobInfo {
        JobInfo {
            state: self.job_state,
            reason: self.state_reason.as_deref().and_then(none_if_null),
            partition: self.partition.as_deref().and_then(none_if_null),
            node: self.nodes.as_deref().and_then(none_if_null),
            exit_code: self.exit_code.and_then(wait_status),
        }
    }
}

/// A wait status as Slurm's `code:signal`.
fn wait_status(status: i64) -> Option<(i32, i32)> {
    let status = i32::try_from(status)
        .ok()
        .filter(|s| (0..=0xffff).contains(s))?;
    Some(((status >> 8) & 0xff, status & 0x7f))
}

/// The one job of a `GET job/{id}` answer.
fn parse_job(answer: &Answer, job_id: &str) -> Result<Option<JobInfo>, ComputeError> {
    let jobs: JobsAnswer = answer.parse()?;
    let wanted: Option<u64> = job_id.parse().ok();
    Ok(jobs
        .jobs
        .into_iter()
        .find(|j| j.job_id.is_none() || j.job_id == wanted)
        .map(RestJob::info))
}

impl SlurmEngine for SlurmRest {
    fn check(&self, partition: Option<&str>) -> Result<Vec<String>, ComputeError> {
        let ping = self.request(Method::GET, "ping", None)?;
        match ping.status {
            200 => {}
            // Slurm 22.05 answers a bad token with 500, not 401 (`slurm_load_ctl_conf` fails).
            500 => {
                return Err(ComputeError::RestRefused {
                    url: self.base.clone(),
                    user: self.user.clone(),
                    request: ping.request.clone(),
                    detail: ping.detail(),
                });
            }
            _ => return Err(ping.refused()),
        }
        let pings: PingAnswer = ping.parse()?;
        if !pings.pings.iter().any(|p| {
            p.ping
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("UP"))
        }) {
            return Err(ComputeError::Unreachable {
                command: ping.request.clone(),
                detail: pings
                    .pings
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {}",
                            p.hostname.as_deref().unwrap_or("controller"),
                            p.ping.as_deref().unwrap_or("unknown")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let answer = self.request(Method::GET, "partitions", None)?;
        if answer.status != 200 {
            return Err(answer.refused());
        }
        let partitions: Vec<String> = answer
            .parse::<PartitionsAnswer>()?
            .partitions
            .into_iter()
            .map(|p| p.name)
            .collect();
        if let Some(partition) = partition
            && !partitions.iter().any(|p| p == partition)
        {
            return Err(ComputeError::NoPartition {
                partition: partition.to_string(),
                available: partitions.join(", "),
            });
        }
        Ok(partitions)
    }

    fn submit(&self, job: &BatchJob) -> Result<String, ComputeError> {
        let environment = job_environment(std::env::vars_os());
        let body = submit_body(job, &job.resources.amounts()?, &environment);
        let answer = self.request(Method::POST, "job/submit", Some(&body))?;
        if answer.status != 200 {
            return Err(answer.refused());
        }
        match answer.parse::<SubmitAnswer>()?.job_id {
            Some(id) if answer.errors().is_empty() => Ok(id.to_string()),
            _ => Err(answer.refused()),
        }
    }

    fn query(&self, job_id: &str) -> Result<Option<JobInfo>, ComputeError> {
        let answer = self.request(Method::GET, &format!("job/{job_id}"), None)?;
        match answer.status {
            200 => parse_job(&answer, job_id),
            // Purged from the controller (MinJobAge), or never there.
            _ if answer
                .errors()
                .iter()
                .any(|e| e.error_number == Some(INVALID_JOB_ID)) =>
            {
                Ok(None)
            }
            _ => Err(answer.refused()),
        }
    }

    fn cancel(&self, job_id: &str) -> Result<(), ComputeError> {
        let answer = self.request(Method::DELETE, &format!("job/{job_id}"), None)?;
        if answer.status == 200 {
            Ok(())
        } else {
            Err(answer.refused())
        }
    }

    fn cancel_label(&self) -> &'static str {
        "slurmrestd"
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::resources::Resources;
    use crate::state::JobState;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            request: "GET /slurm/v0.0.38/job/7".to_string(),
            status,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
            text: body.to_string(),
        }
    }

    // Trimmed from Slurm 22.05.8's slurmrestd (`GET /slurm/v0.0.38/job/{id}`).
    const FAILED_JOB: &str = r#"{"meta": {"plugin": {"type": "openapi/v0.0.38"}}, "errors": [],
        "jobs": [{"account": "", "job_id": 7, "job_state": "FAILED", "state_reason": "NonZeroExitCode",
                  "state_description": "", "partition": "debug", "nodes": "vm", "batch_host": "vm",
                  "exit_code": 768, "derived_exit_code": 0, "time_limit": 5}]}"#;

    #[test]
    fn jobs_are_read_from_their_answer() {
        let info = parse_job(&answer(200, FAILED_JOB), "7").unwrap().unwrap();
        assert_eq!(
            info,
            JobInfo {
                state: "FAILED".to_string(),
                reason: Some("NonZeroExitCode".to_string()),
                partition: Some("debug".to_string()),
                node: Some("vm".to_string()),
                exit_code: Some((3, 0)),
            }
        );
        assert_eq!(
            info.job_state(),
            JobState::Failed {
                reason: "Slurm: FAILED: the script exited with code 3 (NonZeroExitCode)"
                    .to_string()
            }
        );
        let pending = parse_job(
            &answer(
                200,
                r#"{"jobs": [{"job_id": 8, "job_state": "PENDING", "state_reason": "None", "partition": "debug", "nodes": "", "exit_code": 0}]}"#,
            ),
            "8",
        )
        .unwrap()
        .unwrap();
        assert_eq!(pending.node, None);
        assert_eq!(pending.reason, None);
        assert_eq!(pending.job_state(), JobState::Queued);
        // `scancel` ends the script with SIGTERM: wait status 15, Slurm's `0:15`.
        let canceled = parse_job(
            &answer(
                200,
                r#"{"jobs": [{"job_id": 9, "job_state": "CANCELLED", "state_reason": "None", "exit_code": 15}]}"#,
            ),
            "9",
        )
        .unwrap()
        .unwrap();
        assert_eq!(canceled.exit_code, Some((0, 15)));
        assert_eq!(canceled.job_state(), JobState::Canceled);
        let timeout = parse_job(
            &answer(
                200,
                r#"{"jobs": [{"job_id": 10, "job_state": "TIMEOUT", "state_reason": "TimeLimit", "exit_code": 15}]}"#,
            ),
            "10",
        )
        .unwrap()
        .unwrap();
        assert!(
            matches!(timeout.job_state(), JobState::Failed { reason } if reason.contains("time limit"))
        );
        // Another job's answer, or one without `job_state`, is not taken for this job.
        assert_eq!(parse_job(&answer(200, FAILED_JOB), "8").unwrap(), None);
        assert!(parse_job(&answer(200, r#"{"jobs": [{"job_id": 7}]}"#), "7").is_err());
        assert_eq!(wait_status(768), Some((3, 0)));
        assert_eq!(wait_status(9), Some((0, 9)));
        assert_eq!(wait_status(-2), None);
        assert_eq!(wait_status(4_294_967_294), None);
    }

    #[test]
    fn errors_of_an_answer_are_one_line() {
        // What 22.05 says about a job it does not know (HTTP 500).
        let unknown = answer(
            500,
            r#"{"errors": [{"description": "Unable to find JobId=999", "error_number": 2017, "error": "Invalid job id specified", "source": "slurm_load_job"}], "jobs": []}"#,
        );
        assert_eq!(unknown.errors()[0].error_number, Some(INVALID_JOB_ID));
        assert_eq!(
            unknown.detail(),
            "Unable to find JobId=999: Invalid job id specified"
        );
        // A bad token: 500 and this, not 401.
        let bad_token = answer(
            500,
            r#"{"errors": [{"description": "slurmctld config is unable to load", "error_number": -1, "error": "Unspecified error", "source": "slurm_load_ctl_conf"}]}"#,
        );
        let ComputeError::RestRequest { detail, status, .. } = bad_token.refused() else {
            panic!("a refusal");
        };
        assert_eq!(status, 500);
        assert!(
            detail.contains("slurmctld config is unable to load"),
            "{detail}"
        );
        assert_eq!(
            answer(401, "Authentication failure").detail(),
            "Authentication failure"
        );
        assert_eq!(answer(502, "").detail(), "no details");
    }

    #[test]
    fn a_job_becomes_a_submit_body() {
        let job = BatchJob {
            name: "strata-r1".to_string(),
            script: "#!/bin/bash\nexec strata compute job-step job.json\n".to_string(),
            script_path: PathBuf::from("/w/runs/r1/.strata-run/job.sh"),
            workdir: PathBuf::from("/w/runs/r1"),
            output: PathBuf::from("/w/runs/r1/logs/std_log.txt"),
            partition: Some("gpu".to_string()),
            account: None,
            qos: Some("normal".to_string()),
            resources: Resources::default(),
        };
        let amounts = Resources {
            cpus: Some(2),
            memory: Some("1G".to_string()),
            gpus: Some(1),
            time: Some("90s".to_string()),
        }
        .amounts()
        .unwrap();
        let environment = BTreeMap::from([("PATH".to_string(), "/usr/bin".to_string())]);
        assert_eq!(
            submit_body(&job, &amounts, &environment),
            json!({
                "script": "#!/bin/bash\nexec strata compute job-step job.json\n",
                "job": {
                    "name": "strata-r1",
                    "current_working_directory": "/w/runs/r1",
                    "standard_output": "/w/runs/r1/logs/std_log.txt",
                    "environment": {"PATH": "/usr/bin"},
                    "tasks": 1,
                    "partition": "gpu",
                    "qos": "normal",
                    "cpus_per_task": 2,
                    "memory_per_node": 1024,
                    "gres": "gpu:1",
                    "time_limit": 2
                }
            })
        );
        let plain = submit_body(&job, &Amounts::default(), &environment);
        assert!(plain["job"].get("time_limit").is_none());
        assert!(plain["job"].get("account").is_none());
    }

    #[test]
    fn the_job_gets_this_environment_but_not_the_token() {
        let variables = [
            ("PATH", "/usr/bin"),
            ("SLURM_JWT", "eyJsecret"),
            ("LR", "0.1"),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        let environment = job_environment(variables.into_iter());
        assert_eq!(
            environment,
            BTreeMap::from([
                ("LR".to_string(), "0.1".to_string()),
                ("PATH".to_string(), "/usr/bin".to_string())
            ])
        );
    }

    #[test]
    fn tokens_tell_their_user_and_expiry_and_never_print() {
        // A token as `scontrol token` makes it (header.payload.signature).
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTYyMDAzMDYsImlhdCI6MTc5NjE5ODUwNiwic3VuIjoicm9vdCJ9.fIh2JcgSAhD6dNY-MlT2RvkA7hxY1gNK3WyJ8xvsx9M";
        let parsed = Token::new(token.to_string(), TokenSource::Environment);
        assert_eq!(parsed.expires, Some(1_796_200_306));
        assert_eq!(parsed.user.as_deref(), Some("root"));
        assert!(!format!("{parsed:?}").contains("eyJ"));
        let opaque = Token::new("not-a-jwt".to_string(), TokenSource::Environment);
        assert_eq!((opaque.expires, opaque.user), (None, None));
        assert_eq!(base64url_decode("aGk").unwrap(), b"hi");
        assert!(base64url_decode("a b").is_none());
        let expired = Token {
            value: String::new(),
            source: TokenSource::Environment,
            expires: Some(now_seconds() - 100),
            user: None,
        };
        assert!(matches!(
            check_expiry(&expired),
            Err(ComputeError::RestTokenExpired { seconds_ago }) if seconds_ago >= 100
        ));
        // One from `scontrol token` is renewed instead.
        assert!(
            check_expiry(&Token {
                source: TokenSource::Scontrol,
                ..expired
            })
            .is_ok()
        );
    }

    #[test]
    fn rest_settings_are_checked() {
        let settings = RestSettings::new("http://login:6820/", Some("0.0.37"), None).unwrap();
        assert_eq!(settings.url, "http://login:6820");
        assert_eq!(settings.api_version, "v0.0.37");
        assert_eq!(
            RestSettings::new("https://h/slurmrestd", None, None)
                .unwrap()
                .api_version,
            DEFAULT_API_VERSION
        );
        for (url, version, words) in [
            ("http://h:6820", Some("v0.0.40"), "not one Strata speaks"),
            ("http://h:6820", Some("v0.0.36"), "not one Strata speaks"),
            ("h:6820", None, "is not `http://`"),
            ("nothing", None, "is not a URL"),
            ("http://u:secret@h:6820", None, "holds credentials"),
            ("http://h:6820/?token=x", None, "never in a URL"),
        ] {
            let error = RestSettings::new(url, version, None)
                .unwrap_err()
                .to_string();
            assert!(error.contains(words), "{url}: {error}");
        }
    }
}
