//! Knowing what is inside environments: package search over the lock index, SBOMs, and audits of locks against OSV advisories.

pub use audit::{
    AdvisoryFinding, AuditReport, Auditor, PackageAudit, Severity, UncheckedPackage, audit_lock,
};
pub use error::InventoryError;
pub use osv::{Advisory, AdvisoryDatabase, fetch_advisories, is_online_source};
pub use query::{Ecosystem, PackageQuery};
pub use sbom::{SbomFormat, SbomInput, render_sbom};
pub use search::{SearchHit, matching};

mod audit;
mod cvss;
mod error;
mod osv;
mod query;
mod sbom;
mod search;
