//! Installing locked conda packages into a prefix (rattler's installer).

use std::path::Path;

use rattler::install::{Installer, InstallerError, TransactionOperation};
use rattler_cache::package_cache::PackageCache;
use strata_spec::CondaLockedPackage;

use super::records::from_locked;
use super::solve::parse_platform;
use super::{CondaError, CondaInstallReport, package_cache_dir, runtime};

pub(crate) fn install(
    prefix: &Path,
    packages: &[CondaLockedPackage],
    platform: &str,
    cache_dir: &Path,
    target_prefix: Option<&Path>,
) -> Result<CondaInstallReport, CondaError> {
    let platform = parse_platform(platform)?;
    let records = packages
        .iter()
        .map(from_locked)
        .collect::<Result<Vec<_>, _>>()?;
    let mut installer = Installer::new()
        .with_package_cache(PackageCache::new(package_cache_dir(cache_dir)))
        .with_target_platform(platform);
    if let Some(target) = target_prefix {
        installer.set_alternative_target_prefix(target);
    }
    let result = runtime()?
        .block_on(installer.install(prefix, records.iter().cloned()))
        .map_err(|source| match source {
            InstallerError::FailedToFetch(ref file_name, _) => {
                let url = records
                    .iter()
                    .find(|record| record.identifier.to_string() == *file_name)
                    .map(|record| record.url.to_string())
                    .unwrap_or_default();
                CondaError::Download {
                    package: file_name.clone(),
                    url,
                    source: Box::new(source),
                }
            }
            source => CondaError::Install {
                prefix: prefix.to_path_buf(),
                source: Box::new(source),
            },
        })?;

    let transaction = &result.transaction;
    let removed = transaction
        .operations
        .iter()
        .filter(|operation| matches!(operation, TransactionOperation::Remove(_)))
        .count();
    Ok(CondaInstallReport {
        installed: transaction.operations.len() - removed,
        removed,
        unchanged: transaction.unchanged.len(),
    })
}
