//! The settings of `strata deploy` and `strata serve` that come from azmlinfsrv: its environment
//! variables read next to the flags, and the checks of the entry script and model directory.

use anyhow::Result;
use strata_store::ServiceConfig;

use crate::cli::ServingOptions;
use crate::errors::UsageError;
use crate::printer;

impl ServingOptions {
    pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 60_000;

    /// The request timeout: `--timeout-ms`, else `WORKER_TIMEOUT` seconds, else 60 s.
    pub(crate) fn timeout_ms(&self) -> u64 {
        self.timeout_ms
            .or(self
                .worker_timeout
                .map(|seconds| seconds.saturating_mul(1000)))
            .unwrap_or(Self::DEFAULT_TIMEOUT_MS)
    }

    /// `--health-port`, else azmlinfsrv's `HEALTH_PORT` (default 5000) when
    /// `SEPERATE_HEALTH_ENDPOINT=true`.
    pub(crate) fn health_port(&self) -> Result<Option<u16>, String> {
        if self.health_port.is_some() {
            return Ok(self.health_port);
        }
        if std::env::var("SEPERATE_HEALTH_ENDPOINT").is_ok_and(|value| value == "true") {
            return match std::env::var("HEALTH_PORT") {
                Ok(port) => port
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("HEALTH_PORT `{port}` is not a port number")),
                Err(_) => Ok(Some(5000)),
            };
        }
        Ok(None)
    }

    /// Whether responses carry `x-ms-server-version`: unless `--no-server-version-header`, or
    /// `SERVER_VERSION_LOG_RESPONSE_ENABLED` is set to anything but `true`.
    pub(crate) fn server_version_header(&self) -> bool {
        !self.no_server_version_header
            && std::env::var("SERVER_VERSION_LOG_RESPONSE_ENABLED")
                .map_or(true, |value| value.eq_ignore_ascii_case("true"))
    }

    /// The CORS origins, split at commas.
    pub(crate) fn cors_origins(&self) -> Vec<String> {
        self.cors_origins
            .iter()
            .flat_map(|origins| origins.split(','))
            .map(|origin| origin.trim().to_string())
            .filter(|origin| !origin.is_empty())
            .collect()
    }
}

/// The azmlinfsrv settings of a deployment that come from its flags and environment variables.
pub(super) fn check_settings(args: &ServingOptions) -> Result<()> {
    args.health_port().map_err(UsageError::new)?;
    // azmlinfsrv exports the directory as given, existing or not; so does Strata, with a warning.
    if let Some(dir) = &args.model_dir
        && !dir.is_dir()
    {
        printer::warn(format!(
            "The model directory `{}` (--model-dir or AZUREML_MODEL_DIR) does not exist",
            dir.display()
        ));
    }
    Ok(())
}

pub(crate) fn config_of(args: &ServingOptions) -> Result<ServiceConfig> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let from_cores = args.cpu_cores.map(|c| c.ceil().max(1.0) as usize);
    Ok(ServiceConfig {
        workers: args.workers.or(from_cores).unwrap_or(1),
        cpu_cores: args.cpu_cores,
        memory_gb: args.memory_gb,
        timeout_ms: args.timeout_ms(),
        container: None,
        model_dir: match &args.model_dir {
            Some(dir) => Some(std::path::absolute(dir)?.display().to_string()),
            None => None,
        },
        cors_origins: args.cors_origins(),
        health_port: args.health_port().map_err(UsageError::new)?,
        server_version_header: args.server_version_header(),
    })
}
