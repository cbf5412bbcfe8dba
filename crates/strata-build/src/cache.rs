//! Strata's cache directory: built prefixes, tools, and the caches of uv and rattler, on one
//! filesystem so installs hardlink instead of copying.
//!
//! ```text
//! $STRATA_CACHE (default ~/.cache/strata)
//!   CACHEDIR.TAG
//!   envs-v1/<lockhash32>/          finished prefixes (renamed into place when complete)
//!   envs-v1/<lockhash32>/strata-prefix.json   marker: lock hash, python, last use (mtime)
//!   envs-v1/.tmp-<lockhash32>/                a prefix being built (under its lock)
//!   envs-v1/.locks/<lockhash32>.lock          one builder per lock hash
//!   envs-v1/.leases/<lockhash32>.lease        shared by every run and service using the prefix
//!   tools/uv-<version>/bin/uv      the pinned uv, when it is not on PATH
//!   uv/                            uv's cache
//!   conda/                         rattler's repodata and package caches
//!   wheels/<sha256>/<file>.whl     private wheels, linked from the workspace for uv
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::BuildError;

/// The directory for prefixes; the suffix changes when their layout does.
const ENVS: &str = "envs-v1";

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// `$STRATA_CACHE`, else `$XDG_CACHE_HOME/strata`, else `~/.cache/strata`.
    pub fn from_env() -> Self {
        let root = std::env::var_os("STRATA_CACHE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .filter(|v| !v.is_empty())
                    .map(|d| PathBuf::from(d).join("strata"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/strata"))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("strata-cache"));
        Self::new(root)
    }

    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directory tree (once) with a `CACHEDIR.TAG`, so backup tools skip it.
    pub fn ensure(&self) -> Result<(), BuildError> {
        let tag = self.root.join("CACHEDIR.TAG");
        if tag.exists() {
            return Ok(());
        }
        for dir in [
            self.envs_dir().join(".locks"),
            self.tools_dir(),
            self.uv_cache_dir(),
            self.conda_cache_dir(),
            self.wheels_dir(),
        ] {
            fs_err::create_dir_all(&dir).map_err(|source| BuildError::io(&dir, source))?;
        }
        fs_err::write(
            &tag,
            "Signature: 8a477f597d28d172789f06886806bc55\n# This directory is Strata's cache; it can be deleted (or use `strata cache gc`).\n",
        )
        .map_err(|source| BuildError::io(&tag, source))
    }

    pub fn envs_dir(&self) -> PathBuf {
        self.root.join(ENVS)
    }

    /// Takes a shared lease on the prefix of `lock_hash`, held until the [`Lease`] is dropped.
    /// `cache gc` removes a prefix only under an exclusive lock on the same file, so a prefix
    /// stays while anything holds a lease on it. Blocks while a collection of that prefix is
    /// under way (the caller then finds it gone and builds it again).
    pub fn lease(&self, lock_hash: &str) -> Result<Lease, BuildError> {
        let path = self.lease_path(short(lock_hash));
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).map_err(|source| BuildError::io(dir, source))?;
        }
        let file = open_lock_file(&path)?;
        file.lock_shared()
            .map_err(|source| BuildError::io(&path, source))?;
        Ok(Lease { _file: file })
    }

    /// The exclusive counterpart of [`Cache::lease`], for collection: `None` while a lease is
    /// held.
    pub(crate) fn try_lease_exclusive(&self, key: &str) -> Result<Option<File>, BuildError> {
        let path = self.lease_path(key);
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).map_err(|source| BuildError::io(dir, source))?;
        }
        let file = open_lock_file(&path)?;
        Ok(file.try_lock().is_ok().then_some(file))
    }

    fn lease_path(&self, key: &str) -> PathBuf {
        self.envs_dir().join(".leases").join(format!("{key}.lease"))
    }

    /// Where the prefix of a lock lives once built.
    pub fn prefix_path(&self, lock_hash: &str) -> PathBuf {
        self.envs_dir().join(short(lock_hash))
    }

    pub fn tools_dir(&self) -> PathBuf {
        self.root.join("tools")
    }

    pub fn uv_cache_dir(&self) -> PathBuf {
        self.root.join("uv")
    }

    pub fn conda_cache_dir(&self) -> PathBuf {
        self.root.join("conda")
    }

    pub fn wheels_dir(&self) -> PathBuf {
        self.root.join("wheels")
    }
}

/// A shared claim on a built prefix: while it lives, `cache gc` leaves the prefix alone.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

impl Lease {
    /// Lets a program this process `exec`s keep the lease (`env exec`, `env shell`): the lock
    /// belongs to the open file, which the new program then holds until it exits.
    pub fn keep_across_exec(&self) -> std::io::Result<()> {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        fcntl(&self._file, FcntlArg::F_SETFD(FdFlag::empty()))
            .map(drop)
            .map_err(std::io::Error::from)
    }
}

/// Opens a lock file without truncating it (other processes hold locks on it).
fn open_lock_file(path: &Path) -> Result<File, BuildError> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| BuildError::io(path, source))
}

/// The first 32 hex digits of a hash, which name prefixes.
pub fn short(hash: &str) -> &str {
    &hash[..32.min(hash.len())]
}
