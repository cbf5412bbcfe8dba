//! The embedded store's pages: the SQLite workspace's own browsing queries.

use async_trait::async_trait;
use strata_spec::EnvironmentVersion;

use super::{BrowseStore, SqliteStore};
use crate::{
    BuildRecord, BuildRow, EnvironmentSummary, ExperimentSummary, ImageRecord, ModelRecord, Page,
    PageQuery, RunFilter, RunRecord, ServiceRecord, StoreError,
};

#[async_trait]
impl BrowseStore for SqliteStore {
    async fn environment_page(
        &self,
        query: &PageQuery,
    ) -> Result<Page<EnvironmentSummary>, StoreError> {
        self.lock().environment_page(query)
    }

    async fn environment_version_page(
        &self,
        name: &str,
        query: &PageQuery,
    ) -> Result<Page<EnvironmentSummary>, StoreError> {
        self.lock().environment_version_page(name, query)
    }

    async fn last_build(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<BuildRecord>, StoreError> {
        self.lock().last_build(name, version)
    }

    async fn builds_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<BuildRow>, StoreError> {
        self.lock().builds_of_version(name, version, limit)
    }

    async fn build_by_id(&self, id: i64) -> Result<Option<BuildRow>, StoreError> {
        self.lock().build_by_id(id)
    }

    async fn images_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
    ) -> Result<Option<Vec<ImageRecord>>, StoreError> {
        self.lock().images_of_version(name, version).map(Some)
    }

    async fn runs_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.lock().runs_of_version(name, version, limit)
    }

    async fn models_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<ModelRecord>, StoreError> {
        self.lock().models_of_version(name, version, limit)
    }

    async fn services_of_version(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        limit: u64,
    ) -> Result<Vec<ServiceRecord>, StoreError> {
        self.lock().services_of_version(name, version, limit)
    }

    async fn experiment_page(
        &self,
        query: &PageQuery,
    ) -> Result<Page<ExperimentSummary>, StoreError> {
        self.lock().experiment_page(query)
    }

    async fn run_page(
        &self,
        filter: &RunFilter,
        query: &PageQuery,
    ) -> Result<Page<RunRecord>, StoreError> {
        self.lock().run_page(filter, query)
    }

    async fn last_scalar_metrics(&self, run_id: &str) -> Result<Vec<(String, f64)>, StoreError> {
        self.lock().last_scalar_metrics(run_id)
    }

    async fn model_page(&self, query: &PageQuery) -> Result<Page<ModelRecord>, StoreError> {
        self.lock().model_page(query)
    }

    async fn model_version_page(
        &self,
        name: &str,
        query: &PageQuery,
    ) -> Result<Page<ModelRecord>, StoreError> {
        self.lock().model_version_page(name, query)
    }

    async fn models_of_run(&self, run_id: &str) -> Result<Vec<ModelRecord>, StoreError> {
        self.lock().models_of_run(run_id)
    }

    async fn service_page(&self, query: &PageQuery) -> Result<Page<ServiceRecord>, StoreError> {
        self.lock().service_page(query)
    }
}
