//! Turning errors into messages with hints, and exit codes: 1 for what the user or the
//! machine caused (bad input, a refused archive, a full disk, a locked database), 2 for bugs.

use std::fmt;
use std::process::ExitCode;

use strata_spec::SpecError;
use strata_store::StoreError;

/// An error in how the command was used, raised by the binary itself.
#[derive(Debug)]
pub(crate) struct UsageError {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl UsageError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

pub(crate) use strata_core::BuildFailed;

/// Ends the command with an exit code and no message (it was printed already): a run whose
/// script failed exits with the script's code.
#[derive(Debug)]
pub(crate) struct ExitWith(pub(crate) u8);

impl fmt::Display for ExitWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for ExitWith {}

/// Renders `error: ...`, its causes, and a hint; returns the exit code.
pub(crate) fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(ExitWith(code)) = error.downcast_ref::<ExitWith>() {
        return ExitCode::from(*code);
    }
    let mut text = format!("error: {error}");
    for cause in error.chain().skip(1) {
        text.push_str(&format!("\n  Caused by: {cause}"));
    }
    if let Some(hint) = hint(error) {
        text.push_str(&format!("\nhint: {hint}"));
    }
    crate::printer::error(text);
    if is_user_error(error) {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}

fn is_user_error(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<UsageError>()
            || cause.is::<SpecError>()
            || cause
                .downcast_ref::<strata_build::BuildError>()
                .is_some_and(strata_build::BuildError::is_user_error)
            || cause
                .downcast_ref::<strata_serve::ServeError>()
                .is_some_and(strata_serve::ServeError::is_user_error)
            || cause
                .downcast_ref::<strata_run::RunError>()
                .is_some_and(strata_run::RunError::is_user_error)
            || cause
                .downcast_ref::<StoreError>()
                .is_some_and(StoreError::is_user_error)
            || cause
                .downcast_ref::<strata_image::ImageError>()
                .is_some_and(strata_image::ImageError::is_user_error)
            || cause
                .downcast_ref::<strata_inventory::InventoryError>()
                .is_some_and(strata_inventory::InventoryError::is_user_error)
            || cause
                .downcast_ref::<strata_core::images::ImagesError>()
                .is_some_and(strata_core::images::ImagesError::is_user_error)
            || cause
                .downcast_ref::<strata_core::serving::ServingError>()
                .is_some_and(strata_core::serving::ServingError::is_user_error)
            || cause
                .downcast_ref::<strata_core::runs::RunsError>()
                .is_some_and(strata_core::runs::RunsError::is_user_error)
            // A server URL, a credentials file or a server that cannot start: the user's or
            // the machine's doing (a server's own failures arrive as `StoreError`s).
            || cause.is::<strata_client::ClientError>()
            || cause.is::<strata_server::ServerError>()
            || cause.is::<strata_server::BlobUrlError>()
            || cause
                .downcast_ref::<strata_compute::ComputeError>()
                .is_some_and(strata_compute::ComputeError::is_user_error)
            // What the operating system refused (a full disk, a permission, a missing file)
            // is the machine's doing, not a bug.
            || cause.is::<std::io::Error>()
    })
}

fn hint(error: &anyhow::Error) -> Option<String> {
    // A cause that says what to do wins over the build log that only shows what happened.
    if let Some(hint) = error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<strata_build::BuildError>())
        .find_map(build_hint)
    {
        return Some(
            match error.chain().find_map(|c| c.downcast_ref::<BuildFailed>()) {
                Some(failed) => format!(
                    "{hint}. The full log: `strata env build-log {}`",
                    failed.reference
                ),
                None => hint,
            },
        );
    }
    for cause in error.chain() {
        if let Some(usage) = cause.downcast_ref::<UsageError>() {
            return usage.hint.clone();
        }
        if let Some(error) = cause.downcast_ref::<strata_core::images::ImagesError>() {
            return error.hint();
        }
        if let Some(error) = cause.downcast_ref::<strata_core::serving::ServingError>() {
            return error.hint();
        }
        if let Some(error) = cause.downcast_ref::<strata_core::runs::RunsError>() {
            return error.hint();
        }
        if let Some(strata_run::RunError::SnapshotTooLarge { .. }) =
            cause.downcast_ref::<strata_run::RunError>()
        {
            return Some(
                "Exclude files with an `.amlignore` (or `.gitignore`) in the source directory, or raise the limits with `--snapshot-max-files` / `--snapshot-max-mb`".to_string(),
            );
        }
        if let Some(strata_inventory::InventoryError::NotLocked { name, version }) =
            cause.downcast_ref::<strata_inventory::InventoryError>()
        {
            return Some(format!("Lock it first: `strata env lock {name}:{version}`"));
        }
        if let Some(failed) = cause.downcast_ref::<BuildFailed>() {
            let mut hint = format!("The full log: `strata env build-log {}`", failed.reference);
            if let Some(path) = &failed.log_path {
                hint.push_str(&format!(" ({})", path.display()));
            }
            return Some(hint);
        }
        // `InventoryError::Store` is transparent: its store error is not a cause of its own.
        let store = cause.downcast_ref::<StoreError>().or_else(|| {
            match cause.downcast_ref::<strata_inventory::InventoryError>() {
                Some(strata_inventory::InventoryError::Store(store)) => Some(store),
                _ => None,
            }
        });
        if let Some(store) = store {
            return match store {
                StoreError::NoWorkspace { .. } => Some(
                    "Run `strata init` to create one here, or point to one with `--workspace DIR` or `STRATA_WORKSPACE`".to_string(),
                ),
                StoreError::NotAWorkspace { .. } => Some("Create one with `strata init DIR`, or check the path".to_string()),
                StoreError::WorkspaceExists { .. } => Some("Use the existing workspace, or pick another directory".to_string()),
                StoreError::Unauthenticated { .. } => Some(
                    "Log in again with a valid token: `strata login URL --token-stdin` (or set `STRATA_TOKEN`)".to_string(),
                ),
                StoreError::Forbidden { .. } => Some(
                    "Ask an owner of the workspace for a role that allows it (`strata server token create --role ...`)".to_string(),
                ),
                StoreError::Unavailable { .. } => Some(
                    "The server or its database is unreachable; try again shortly".to_string(),
                ),
                StoreError::VersionConflict { .. } => Some(
                    "Remove `version` from the definition to register it as the next version".to_string(),
                ),
                StoreError::VersionNotFound { name, .. } => {
                    Some(format!("`strata env list --all-versions` shows every version of `{name}`"))
                }
                StoreError::NotFound { what } if what.starts_with("Environment") => {
                    Some("`strata env list` shows the registered environments".to_string())
                }
                StoreError::Credentials { found } => {
                    let mut hint = "Put the secret in an environment variable and reference it, e.g. `https://${INDEX_TOKEN}@host/simple` or `https://user:${INDEX_PASSWORD}@host/simple`; it is read when the environment is built".to_string();
                    if found.iter().any(|f| f.contains("/t/***/")) {
                        hint.push_str(". A conda channel token (`/t/<token>/`) cannot be referenced: mirror the channel to a directory (`file://`) or a server that needs no token");
                    }
                    Some(hint)
                }
                StoreError::DiskFull { .. } => Some(
                    "Free space on that disk, then run the command again".to_string(),
                ),
                StoreError::CorruptBlob { .. } | StoreError::CorruptRecord { .. } => Some(
                    "The workspace has been modified outside Strata; restore it from a backup".to_string(),
                ),
                _ => None,
            };
        }
    }
    None
}

fn build_hint(error: &strata_build::BuildError) -> Option<String> {
    match error {
        strata_build::BuildError::NoInterpreter { request, .. } => Some(format!(
            "Install Python {request} (`uv python install {request}`, `pyenv install`, or the system's packages), or ask for one that is installed (`--python`, or `python=` in the conda dependencies)"
        )),
        strata_build::BuildError::Conda(
            strata_build::CondaError::Channel { url, .. }
            | strata_build::CondaError::Repodata { channels: url, .. },
        ) => Some(format!(
            "Point the definition's `channels:` at a mirror this machine reaches (a conda proxy such as Artifactory, Nexus or Quetz), or at a local channel directory (`file:///srv/conda/conda-forge`), instead of {}",
            if url.starts_with('`') {
                url.clone()
            } else {
                format!("`{url}`")
            }
        )),
        _ => None,
    }
}
