//! Serving: deploying a model with its scoring script in the environment it was trained in
//! (locally, or in a podman container of the environment's image), the deployment's detached
//! server, a server in the foreground, and reloading, following and deleting services.

pub use container::{ServiceImage, remove_container, service_image};
pub use deploy::{Deployment, Launcher, check_entry_script, deploy};
pub use error::ServingError;
pub use layout::copy_app;
pub use process::{ready, stop, tail};
pub use pull::pull_for_serving;
pub use server::{
    Foreground, PreparedServer, delete_service, follow_log, prepare_foreground, refreshed_services,
    reload_service, serve_deployment,
};

mod container;
mod deploy;
mod error;
mod layout;
mod log;
mod process;
mod pull;
mod server;

/// The file a service's server writes its log to, in the service directory.
pub const LOG: &str = "service.log";

type Result<T, E = ServingError> = std::result::Result<T, E>;
