//! `strata env ...`.

pub(crate) use audit::{AuditArgs, audit};
pub(crate) use details::{ImageDetailsArgs, image_details};
pub(crate) use inspect::{
    diff, download, list, render_diff as render_diff_for_quickstart, show, show_environment,
};
pub(crate) use labels::{LabelArgs, label};
pub(crate) use register::{add_package, add_wheel, copy, hash, register, scaffold};
pub(crate) use sbom::{SbomArgs, sbom};
pub(crate) use search::{SearchArgs, search};

mod audit;
mod audit_json;
mod details;
mod inspect;
mod labels;
mod register;
pub(crate) mod sbom;
mod search;
