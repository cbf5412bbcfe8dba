//! One module per resource; each handler reads one window of the workspace and renders it.

pub(crate) mod environments;
pub(crate) mod models;
pub(crate) mod runs;
pub(crate) mod services;

use crate::app::{PageResult, Response, Ui};
use crate::html::{href, layout, link};

/// Rows per page of every list.
pub(crate) const PER_PAGE: u64 = 50;

/// The start page: where each list is.
pub(crate) async fn home(ui: &Ui) -> PageResult {
    let base = ui.base();
    let items = [
        (
            "/environments",
            "Environments",
            "names, versions, locks, builds, images and what uses them",
        ),
        (
            "/diff",
            "Diff",
            "any two environment versions, package by package",
        ),
        (
            "/experiments",
            "Runs",
            "experiments and their runs, metrics, logs and outputs",
        ),
        (
            "/models",
            "Models",
            "versions and lineage: model ← run ← environment version ← lock",
        ),
        (
            "/services",
            "Services",
            "deployed models, and a form to score them",
        ),
    ];
    let mut body = format!(
        "<p>Workspace <code>{}</code></p>{}<ul class=\"home\">",
        crate::html::esc(ui.label()),
        ui.signed_in_note(),
    );
    for (path, title, text) in items {
        body.push_str(&format!(
            "<li>{} — {}</li>",
            link(&href(base, path, &[]), title),
            crate::html::esc(text)
        ));
    }
    body.push_str("</ul>");
    Ok(Response::html(200, layout(base, "Workspace", &body, None)))
}
