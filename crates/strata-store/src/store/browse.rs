//! What the web page reads beyond [`WorkspaceStore`]: windows of searchable lists (numbered
//! pages, since people jump to page 7 and back) and the records that point at an environment
//! version or a run.

use async_trait::async_trait;
use strata_spec::EnvironmentVersion;

use super::WorkspaceStore;
use crate::{
    BuildRecord, BuildRow, EnvironmentSummary, ExperimentSummary, ImageRecord, ModelRecord, Page,
    PageQuery, RunFilter, RunRecord, ServiceRecord, StoreError,
};

/// The read side of a workspace that a page renders from. Implemented by the embedded store
/// (for `strata ui`) and by PostgreSQL (for a team server's pages); every list is one query
/// over a window, never a whole table.
#[async_trait]
pub trait BrowseStore: WorkspaceStore {
    /// The latest version of each named (not anonymous) environment, by name; `search`
    /// matches the name.
    async fn environment_page(
        &self,
        query: &PageQuery,
    ) -> Result<Page<EnvironmentSummary>, StoreError>;

    /// The versions of one environment, newest first; `search` matches the version.
    async fn environment_version_page(
        &self,
        name: &str,
        query: &PageQuery,
    ) -> Result<Page<EnvironmentSummary>, StoreError>;

    /// The newest build of a version.
    async fn last_build(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<BuildRecord>, StoreError>;

    /// The newest `limit` builds of a version, newest first.
    async fn builds_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<BuildRow>, StoreError>;

    /// One build of this workspace by its id.
    async fn build_by_id(&self, id: i64) -> Result<Option<BuildRow>, StoreError>;

    /// The images built from a version; `None` when this kind of workspace keeps no image
    /// records (a server's: images stay with the engine and registry that built them).
    async fn images_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<Vec<ImageRecord>>, StoreError>;

    /// The newest `limit` runs that used a version.
    async fn runs_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// The newest `limit` model versions trained in a version.
    async fn models_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<ModelRecord>, StoreError>;

    /// The services that run in a version, by name.
    async fn services_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<ServiceRecord>, StoreError>;

    /// Experiments by name, with their run counts; `search` matches the name.
    async fn experiment_page(
        &self,
        query: &PageQuery,
    ) -> Result<Page<ExperimentSummary>, StoreError>;

    /// The runs of an experiment, filtered and sorted; `search` matches the id, the script
    /// and tag keys and values.
    async fn run_page(
        &self,
        filter: &RunFilter,
        query: &PageQuery,
    ) -> Result<Page<RunRecord>, StoreError>;

    /// The last logged value of each scalar metric of a run, by name.
    async fn last_scalar_metrics(&self, run_id: &str) -> Result<Vec<(String, f64)>, StoreError>;

    /// The latest version of each model, by name; `search` matches the name.
    async fn model_page(&self, query: &PageQuery) -> Result<Page<ModelRecord>, StoreError>;

    /// The versions of one model, newest first.
    async fn model_version_page(
        &self,
        name: &str,
        query: &PageQuery,
    ) -> Result<Page<ModelRecord>, StoreError>;

    /// The model versions registered from a run.
    async fn models_of_run(&self, run_id: &str) -> Result<Vec<ModelRecord>, StoreError>;

    /// Services by name; `search` matches the name.
    async fn service_page(&self, query: &PageQuery) -> Result<Page<ServiceRecord>, StoreError>;
}
