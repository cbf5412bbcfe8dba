//! The Strata workspace: a versioned registry of environments in SQLite, with content in a
//! content-addressed blob store.

pub use blobs::{BlobDigest, BlobStore};
pub use browse::{BuildRow, ExperimentSummary, Page, PageQuery, RunFilter, RunSort};
pub use context::{build_context_reference, stored_context_digest};
pub use definition::{DefinitionDocument, EnvironmentDocument};
pub use environments::{EnvironmentRecord, EnvironmentSummary, RegisterOptions, Registration};
pub use error::StoreError;
pub use images::ImageRecord;
pub use inventory::{CONDA, PYPI, PackagePosition, PackageUse, locked_packages, normalize_package};
pub use labels::{EnvironmentLabel, label_not_found, validate_label};
pub use locks::{BuildRecord, LatestLock, LockRecord};
pub use models::{ModelRecord, validate_model_name};
pub use registration::{PreparedRegistration, RegistrationDecision};
pub use runs::{CANCELED, COMPLETED, FAILED, Metric, PREPARING, QUEUED, RUNNING, RunRecord};
pub use services::{
    DELETED, DEPLOYING, SERVICE_FAILED, SERVICE_RUNNING, ServiceConfig, ServiceModel, ServiceRecord,
};
pub use targets::{
    BUILTIN_TARGETS, PackRecord, RunJob, TargetRecord, builtin_not_detachable, builtin_target,
    target_exists, target_not_found, validate_target_name,
};
pub use trees::{Manifest, ManifestEntry};
pub use wheels::WheelRef;
pub use workspace::{WORKSPACE_DIR, Workspace, format_time, now_millis, parse_time};

mod blobs;
mod browse;
mod context;
mod db;
mod definition;
mod environments;
mod error;
mod images;
mod inventory;
mod labels;
mod locks;
mod models;
mod registration;
mod runs;
mod schema;
mod services;
pub mod store;
mod targets;
mod trees;
mod wheels;
mod workspace;
