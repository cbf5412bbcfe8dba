//! The workspace behind its interfaces, wherever it is: an embedded directory or a server
//! workspace URL. Commands that only read and write records go through here, so they work on
//! both.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use strata_store::store::{
    BlobStorage, CursorPage, EnvironmentQuery, MAX_PAGE_SIZE, RunQuery, SqliteStore,
    WorkspaceStore, collect_all,
};
use strata_store::{EnvironmentSummary, Manifest, ModelRecord, RunRecord, ServiceRecord};

use crate::commands::Context;

/// A runtime for the async interfaces; commands block on it.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("Failed to start the async runtime")
}

/// Whether a `--workspace` value names a server workspace.
pub(crate) fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// An opened workspace: its records and blobs, and the runtime to reach them.
pub(crate) struct Opened {
    runtime: tokio::runtime::Runtime,
    pub(crate) records: Arc<dyn WorkspaceStore>,
    pub(crate) blobs: Arc<dyn BlobStorage>,
    /// The directory, for an embedded workspace.
    pub(crate) local: Option<PathBuf>,
}

impl Opened {
    pub(crate) fn open(context: &Context) -> Result<Self> {
        let runtime = runtime()?;
        if let Some(url) = context.server_url() {
            let token = strata_client::token_for(url)?.ok_or_else(|| {
                crate::errors::UsageError::new(format!("No token for `{url}`")).hint(format!(
                    "Log in with `strata login {url} --token-stdin`, or set `STRATA_TOKEN`"
                ))
            })?;
            let remote = Arc::new(strata_client::RemoteStore::new(url, token)?);
            return Ok(Self {
                runtime,
                records: remote.clone(),
                blobs: remote,
                local: None,
            });
        }
        let workspace = context.open_workspace()?;
        let root = workspace.root().to_path_buf();
        let store = SqliteStore::new(workspace);
        Ok(Self {
            runtime,
            blobs: Arc::new(store.blobs()),
            records: Arc::new(store),
            local: Some(root),
        })
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub(crate) fn is_remote(&self) -> bool {
        self.local.is_none()
    }

    /// Every page of environments.
    pub(crate) fn environments(&self, query: &EnvironmentQuery) -> Result<Vec<EnvironmentSummary>> {
        let records = &self.records;
        Ok(self.block_on(collect_all(|cursor| async move {
            records
                .list_environments(query, cursor.as_deref(), MAX_PAGE_SIZE)
                .await
        }))?)
    }

    /// Every page of runs, newest first.
    pub(crate) fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>> {
        let records = &self.records;
        Ok(self.block_on(collect_all(|cursor| async move {
            records
                .list_runs(query, cursor.as_deref(), MAX_PAGE_SIZE)
                .await
        }))?)
    }

    pub(crate) fn models(&self, all_versions: bool) -> Result<Vec<ModelRecord>> {
        let records = &self.records;
        Ok(self.block_on(collect_all(|cursor| async move {
            records
                .list_models(all_versions, cursor.as_deref(), MAX_PAGE_SIZE)
                .await
        }))?)
    }

    pub(crate) fn services(&self) -> Result<Vec<ServiceRecord>> {
        let records = &self.records;
        Ok(self.block_on(collect_all(|cursor| async move {
            let page: CursorPage<ServiceRecord> = records
                .list_services(cursor.as_deref(), MAX_PAGE_SIZE)
                .await?;
            Ok(page)
        }))?)
    }

    /// A stored blob's bytes (a log: small), checked against its digest.
    pub(crate) fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let directory = tempfile::tempdir().context("Failed to make a temporary directory")?;
        let path = directory.path().join("blob");
        self.block_on(self.blobs.get_to_file(digest, &path))?;
        Ok(fs_err::read(&path)?)
    }

    /// A stored tree's manifest.
    pub(crate) fn read_manifest(&self, digest: &str) -> Result<Manifest> {
        let directory = tempfile::tempdir().context("Failed to make a temporary directory")?;
        let path = directory.path().join("manifest.json");
        self.block_on(self.blobs.get_to_file(digest, &path))?;
        let text = fs_err::read(&path)?;
        serde_json::from_slice(&text)
            .with_context(|| format!("The manifest `{digest}` is not a stored tree"))
    }
}
