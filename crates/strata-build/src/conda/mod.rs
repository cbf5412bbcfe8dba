//! Conda: resolving specs against channels and installing the result into a prefix, with the
//! rattler crates.
//!
//! The functions are synchronous: each runs its own tokio runtime, so they must not be called
//! from inside one. Caches live under the caller's cache directory: `conda-repodata/` (repodata
//! of remote channels) and `conda-pkgs/` (extracted packages; prefixes hardlink from it, so it
//! should be on the same filesystem as the prefixes).

use std::path::{Path, PathBuf};

use strata_spec::CondaLockedPackage;

pub use error::CondaError;

mod channel;
mod error;
mod install;
mod records;
mod solve;
mod virtual_packages;

/// What to resolve.
#[derive(Debug, Clone, Copy)]
pub struct CondaSolveRequest<'a> {
    /// In priority order: names (`conda-forge` → `https://conda.anaconda.org/conda-forge`),
    /// `http(s)://` or `file://` URLs, or absolute directory paths.
    pub channels: &'a [String],
    /// Conda match specs, e.g. `python=3.11` or `numpy >=1.26`.
    pub specs: &'a [String],
    /// The conda platform, e.g. `linux-64`; `noarch` is always queried too.
    pub platform: &'a str,
    pub cache_dir: &'a Path,
}

/// What an install changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CondaInstallReport {
    /// Packages linked into the prefix, including those that replaced another build or version.
    pub installed: usize,
    /// Packages removed because they are no longer wanted.
    pub removed: usize,
    /// Packages already installed exactly.
    pub unchanged: usize,
}

/// Resolves `specs` against the channels for `[platform, noarch]`, returning the packages
/// sorted by name.
pub fn solve_conda(request: &CondaSolveRequest) -> Result<Vec<CondaLockedPackage>, CondaError> {
    solve::solve(request)
}

/// Makes `prefix` (creating it) contain exactly `packages`: links what is missing from the
/// package cache (downloading and verifying it first), and removes what is not wanted. A
/// re-install of the same set does nothing. Link scripts are not run.
pub fn install_conda(
    prefix: &Path,
    packages: &[CondaLockedPackage],
    platform: &str,
    cache_dir: &Path,
) -> Result<CondaInstallReport, CondaError> {
    install::install(prefix, packages, platform, cache_dir, None)
}

/// Like [`install_conda`], but patches hard-coded prefixes with `target_prefix`: for building in
/// a temporary directory that is renamed to `target_prefix` afterwards.
pub fn install_conda_for(
    prefix: &Path,
    target_prefix: &Path,
    packages: &[CondaLockedPackage],
    platform: &str,
    cache_dir: &Path,
) -> Result<CondaInstallReport, CondaError> {
    install::install(prefix, packages, platform, cache_dir, Some(target_prefix))
}

fn repodata_cache_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("conda-repodata")
}

fn package_cache_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("conda-pkgs")
}

fn runtime() -> Result<tokio::runtime::Runtime, CondaError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| CondaError::Runtime { source })
}
