//! Building environments: resolving and installing conda packages.

pub use conda::{CondaError, CondaInstallReport, CondaSolveRequest, install_conda, solve_conda};

mod conda;
#[cfg(feature = "test-support")]
pub mod test_channel;
