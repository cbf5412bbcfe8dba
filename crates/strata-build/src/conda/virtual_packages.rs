//! The virtual packages (`__glibc`, `__unix`, ...) a solve for a platform assumes.
//!
//! They are fixed per platform, not detected on this machine, so a lock does not depend on
//! where it was made. The minimums follow pixi's defaults (glibc 2.28, Linux 4.18, macOS 13).
//! As in conda, `CONDA_OVERRIDE_GLIBC` and `CONDA_OVERRIDE_OSX` replace the versions and
//! `CONDA_OVERRIDE_CUDA` adds `__cuda` (no `__cuda` otherwise).

use std::str::FromStr;

use rattler_conda_types::{
    GenericVirtualPackage, PackageName, Subdir, Version, package::BuildString,
};

const DEFAULT_GLIBC: &str = "2.28";
const DEFAULT_LINUX: &str = "4.18";
const DEFAULT_OSX: &str = "13.0";

pub(crate) fn virtual_packages(platform: Subdir) -> Vec<GenericVirtualPackage> {
    let mut packages = Vec::new();
    let arch = platform.arch().map(|arch| arch.to_string());
    if platform.is_unix() {
        packages.extend(package("__unix", "0", "0"));
    }
    if platform.is_linux() {
        packages.extend(package("__linux", DEFAULT_LINUX, "0"));
        let glibc = override_or("CONDA_OVERRIDE_GLIBC", DEFAULT_GLIBC);
        packages.extend(package("__glibc", &glibc, "0"));
    }
    if platform.is_osx() {
        let osx = override_or("CONDA_OVERRIDE_OSX", DEFAULT_OSX);
        packages.extend(package("__osx", &osx, "0"));
    }
    if platform.is_windows() {
        packages.extend(package("__win", "0", "0"));
    }
    if let Some(arch) = &arch {
        packages.extend(package("__archspec", "1", arch));
    }
    if let Ok(cuda) = std::env::var("CONDA_OVERRIDE_CUDA")
        && !cuda.trim().is_empty()
    {
        packages.extend(package("__cuda", cuda.trim(), "0"));
    }
    packages
}

fn override_or(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn package(name: &str, version: &str, build: &str) -> Option<GenericVirtualPackage> {
    Some(GenericVirtualPackage {
        name: PackageName::from_str(name).ok()?,
        version: Version::from_str(version).ok()?,
        build_string: BuildString::new_unchecked(build),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_gets_unix_linux_glibc_and_archspec() {
        let names: Vec<String> = virtual_packages(Subdir::Linux64)
            .iter()
            .map(|package| package.name.as_normalized().to_string())
            .filter(|name| name != "__cuda")
            .collect();
        assert_eq!(names, ["__unix", "__linux", "__glibc", "__archspec"]);
        let windows: Vec<String> = virtual_packages(Subdir::Win64)
            .iter()
            .map(|package| package.to_string())
            .filter(|name| !name.starts_with("__cuda"))
            .collect();
        assert_eq!(windows, ["__win=0=0", "__archspec=1=x86_64"]);
        assert!(
            virtual_packages(Subdir::NoArch)
                .iter()
                .all(|package| package.name.as_normalized() == "__cuda")
        );
    }
}
