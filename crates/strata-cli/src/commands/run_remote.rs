//! `strata run` on a server workspace: the run executes here, in a local working copy of the
//! workspace (its environment version and shared lock pulled from the server), and its
//! status, log, metrics and results are reported to the server while it runs, so teammates
//! follow it from their machines.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use strata_build::Cache;
use strata_core::runs::{self, Reporting};
use strata_core::{SharedLock, SharedWorkspace};
use strata_spec::EnvironmentVersion;
use strata_store::Workspace;
use strata_store::store::{pull_build_context, upload_build_context};

use crate::commands::build::{Built, cli_error};
use crate::commands::remote::Opened;
use crate::commands::{Context, parse_ref};
use crate::printer;

/// A server workspace a run reports to, and the local working copy it executes in.
pub(crate) struct RemoteRun {
    opened: Opened,
    url: String,
    working_copy: PathBuf,
}

impl RemoteRun {
    pub(crate) fn open(context: &Context, url: &str) -> Result<Self> {
        let opened = context.open()?;
        let working_copy = runs::working_copy(url);
        Ok(Self {
            opened,
            url: url.to_string(),
            working_copy,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The working copy, made when missing.
    pub(crate) fn working_copy(&self) -> Result<Workspace> {
        open_working_copy(&self.url)
    }

    /// The server workspace as [`strata_core`]'s shared use cases reach it.
    pub(crate) fn shared(&self) -> SharedWorkspace<'_> {
        SharedWorkspace {
            records: self.opened.records.as_ref(),
            blobs: self.opened.blobs.as_ref(),
        }
    }

    /// Builds `name` (the server's latest version without `version`) in the working copy,
    /// from the server's lock (made here and shared when it has none), and records the build
    /// on the server, a failed one too ([`strata_core::build_shared`]).
    pub(crate) fn build(
        &self,
        workspace: &mut Workspace,
        name: &str,
        version: Option<&EnvironmentVersion>,
    ) -> Result<Built> {
        let reporter = crate::progress::TerminalReporter::new();
        let built = self.opened.block_on(strata_core::build_shared(
            self.shared(),
            workspace,
            name,
            version,
            &Cache::from_env(),
            &reporter,
        ));
        drop(reporter);
        let shared = built.map_err(cli_error)?;
        if let Some(error) = &shared.unrecorded {
            let record = &shared.built.record;
            printer::warn(format!(
                "The build of {}:{} is not recorded on the server ({error}); it is usable here",
                record.name, record.version
            ));
        }
        Ok(shared.built)
    }

    /// `env lock [--refresh]` against the server ([`strata_core::relock_shared`]).
    pub(crate) fn relock(
        &self,
        workspace: &mut Workspace,
        name: &str,
        version: Option<&EnvironmentVersion>,
        refresh: bool,
    ) -> Result<SharedLock> {
        let reporter = crate::progress::TerminalReporter::new();
        let locked = self.opened.block_on(strata_core::relock_shared(
            self.shared(),
            workspace,
            name,
            version,
            refresh,
            &Cache::from_env(),
            &reporter,
        ));
        drop(reporter);
        locked.map_err(cli_error)
    }

    /// What a deployment on this machine needs of the server, pulled into the working copy
    /// ([`strata_core::serving::pull_for_serving`]).
    pub(crate) fn pull_for_serving(
        &self,
        workspace: &mut Workspace,
        models: &[String],
        env: Option<&str>,
    ) -> Result<()> {
        let models = models
            .iter()
            .map(|reference| crate::commands::model::parse(reference))
            .collect::<Result<Vec<_>>>()?;
        let env = env.map(parse_ref).transpose()?;
        Ok(self
            .opened
            .block_on(strata_core::serving::pull_for_serving(
                self.opened.records.as_ref(),
                self.opened.blobs.as_ref(),
                workspace,
                &models,
                env.as_ref(),
            ))?)
    }

    /// The build context `record` names, fetched from the server into the working copy.
    pub(crate) fn pull_build_context(
        &self,
        workspace: &Workspace,
        record: &strata_store::EnvironmentRecord,
    ) -> Result<()> {
        Ok(self.opened.block_on(pull_build_context(
            workspace,
            self.opened.blobs.as_ref(),
            record,
        ))?)
    }

    /// Stores the build context directory `dir` on the server (the blob first); returns the
    /// reference a definition names it by.
    pub(crate) fn upload_build_context(&self, dir: &std::path::Path) -> Result<String> {
        let workspace = self.working_copy()?;
        Ok(self.opened.block_on(upload_build_context(
            &workspace,
            self.opened.blobs.as_ref(),
            dir,
        ))?)
    }

    /// Records a service of the working copy on the server, at the address teammates reach
    /// (`advertise`, else as [`strata_core::publish_service`] works it out), and shares the
    /// lock it was built from.
    pub(crate) fn publish_service(
        &self,
        workspace: &Workspace,
        name: &str,
        advertise: Option<&str>,
    ) -> Result<strata_core::PublishedService> {
        Ok(self.opened.block_on(strata_core::publish_service(
            self.opened.records.as_ref(),
            workspace,
            name,
            advertise,
        ))?)
    }

    /// The host the server records for a service, if it has one.
    pub(crate) fn recorded_host(&self, name: &str) -> Option<String> {
        self.opened
            .block_on(self.opened.records.get_service(name))
            .ok()
            .map(|service| service.host)
    }

    /// A context for the working copy, where services of a server workspace run.
    pub(crate) fn local_context(&self, context: &Context) -> Context {
        context.with_workspace(&self.working_copy)
    }

    /// Runs `future` on the runtime of the connection to the server.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.opened.block_on(future)
    }

    /// What a run supervised here reports to the server through.
    pub(crate) fn reporting(&self) -> Reporting {
        Reporting {
            records: self.opened.records.clone(),
            blobs: self.opened.blobs.clone(),
            warn: Box::new(|message: &str| printer::warn(message)),
        }
    }
}

/// The working copy of a server workspace, made when missing.
pub(crate) fn open_working_copy(url: &str) -> Result<Workspace> {
    Ok(runs::open_working_copy(url)?)
}

/// `strata runs supervise ID --report-to URL`: the detached supervisor of a server run.
pub(crate) fn supervise_reporting(
    context: &Context,
    url: &str,
    id: &str,
    grace: u64,
) -> Result<()> {
    let remote = RemoteRun::open(&context.with_workspace(url), url)
        .with_context(|| format!("Failed to reach `{url}`"))?;
    let mut workspace = remote.working_copy()?;
    crate::commands::run::supervise(
        &mut workspace,
        id,
        Arc::new(strata_run::NoSink),
        Duration::from_secs(grace),
        Some(remote.reporting()),
    )
    .map(drop)
}
