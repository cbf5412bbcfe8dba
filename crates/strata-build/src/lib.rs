//! Building environments: resolve a definition to a lock (uv for PyPI, rattler for conda), and
//! materialize locks into a content-addressed cache of prefixes.

pub use cache::{Cache, Lease, short};
pub use conda::{
    CondaError, CondaInstallReport, CondaSolveRequest, install_conda, install_conda_for,
    solve_conda,
};
pub use error::BuildError;
pub use gc::{CachedPrefix, GcReport, gc, list_prefixes};
pub use in_rootfs::{RootfsPython, SOURCE_DATE_EPOCH, host_ca_bundle, materialize_in_rootfs};
pub use interpreter::{Interpreter, find_system, find_system_cached, probe};
pub use materialize::{MARKER, Prefix, lookup, materialize};
pub use reporter::{BuildLog, Reporter, SilentReporter};
pub use resolve::{BuildContext, PLATFORM, WheelSource, resolve};
pub use uv::{UV_VERSION, Uv, which};

mod bytecode;
mod cache;
mod conda;
mod discovery;
mod error;
mod gc;
mod in_rootfs;
mod interpreter;
mod materialize;
mod reporter;
mod resolve;
#[cfg(feature = "test-support")]
pub mod test_channel;
mod uv;
mod wheel_check;
