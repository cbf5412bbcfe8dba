use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How to serve an entry script. Serialised (JSON) into container images, where the server
/// binary reads it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServeConfig {
    /// The environment's interpreter.
    pub python: PathBuf,
    /// Extra variables for the workers (`PATH`, `VIRTUAL_ENV`, the definition's variables), on top
    /// of the server's own environment.
    pub environment: BTreeMap<String, String>,
    /// The workers' working directory and `AML_APP_ROOT`; appended to `sys.path`.
    pub app_root: PathBuf,
    /// The entry script, relative to `app_root` (`score.py`, `src/score.py`).
    pub entry_script: PathBuf,
    /// Relative to `app_root`; appended to `sys.path` and exported as `AZUREML_SOURCE_DIRECTORY`.
    pub source_directory: Option<PathBuf>,
    /// Exported as `AZUREML_MODEL_DIR`, made absolute against the server's working directory.
    pub model_dir: Option<PathBuf>,
    /// Prepended to `PYTHONPATH` (the directory holding the `strata` package).
    pub python_path: Vec<PathBuf>,
    /// Worker processes, each answering one request at a time (at least 1).
    pub workers: usize,
    /// Requests that may wait for a worker; one more is answered 503 at once (at least 1).
    pub queue_capacity: usize,
    /// Longest time a request may take, queueing included: past it the client gets 504, and a
    /// worker whose `run()` has itself been running that long is killed and replaced.
    #[serde(with = "millis")]
    pub request_timeout: Duration,
    /// Largest request body; larger ones get 413 (frames carry 32-bit lengths, so at most
    /// 4 GiB minus a few KiB).
    pub max_body_bytes: usize,
    /// Largest resident set of a worker, sampled every 25 ms while it runs a request: a worker
    /// over it is killed and replaced and its request gets 503.
    pub memory_limit_bytes: Option<u64>,
    /// Whether responses carry `x-ms-server-version` (azmlinfsrv's
    /// `SERVER_VERSION_LOG_RESPONSE_ENABLED`).
    #[serde(default = "yes")]
    pub server_version_header: bool,
    /// Origins allowed by CORS (`*` for any); empty: CORS is off (azmlinfsrv's `AML_CORS_ORIGINS`).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// A second port, on the same address, serving the same routes, for health probes
    /// (azmlinfsrv's `HEALTH_PORT`); used by [`crate::run`].
    #[serde(default)]
    pub health_port: Option<u16>,
}

fn yes() -> bool {
    true
}

impl ServeConfig {
    /// Default number of waiting requests.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 256;
    /// Default request timeout: gunicorn's worker timeout, the limit azmlinfsrv enforces in effect.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_mins(5);
    /// Default body limit, 100 MiB: azmlinfsrv has none; 100 MB is the largest body it was seen to
    /// accept.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 100 * 1024 * 1024;

    /// A configuration with one worker and the defaults above.
    pub fn new(
        python: impl Into<PathBuf>,
        app_root: impl Into<PathBuf>,
        entry_script: impl Into<PathBuf>,
    ) -> Self {
        Self {
            python: python.into(),
            environment: BTreeMap::new(),
            app_root: app_root.into(),
            entry_script: entry_script.into(),
            source_directory: None,
            model_dir: None,
            python_path: Vec::new(),
            workers: 1,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            memory_limit_bytes: None,
            server_version_header: true,
            cors_origins: Vec::new(),
            health_port: None,
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(deserializer)?))
    }
}
