//! The workspace's web page: server-rendered HTML with SVG charts over a workspace.

pub use app::{
    Body, CONTENT_SECURITY_POLICY, Request, Response, Ui, UiError, Viewer, asset, secured,
    sign_in_page,
};
pub use chart::{Series, downsample, line_chart};
pub use html::{Paging, esc, same_secret};
pub use server::{bind_local, serve, serve_until_interrupted};

mod app;
mod chart;
mod html;
mod pages;
mod server;
