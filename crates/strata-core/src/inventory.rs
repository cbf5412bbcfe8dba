//! Knowing what is inside a workspace's environments, through any store (embedded or a
//! server): which versions lock a package and what used them, the SBOM of a version's lock,
//! and audits of locks against OSV advisories.

use std::path::PathBuf;
use std::sync::Arc;

use strata_inventory::{
    AdvisoryDatabase, AuditReport, Auditor, InventoryError, PackageQuery, SbomFormat, SbomInput,
    SearchHit, fetch_advisories,
};
use strata_spec::{EnvironmentRef, EnvironmentVersion};
use strata_store::LockRecord;
use strata_store::store::{MAX_PAGE_SIZE, WorkspaceStore, collect_all};

/// Every locked environment version (anonymous ones included: runs and deployments make
/// them) whose package matches `query`, by environment name and version, with the runs,
/// models and services that used it.
pub async fn search_packages(
    records: &dyn WorkspaceStore,
    query: &PackageQuery,
) -> Result<Vec<SearchHit>, InventoryError> {
    let ecosystem = query.ecosystem.as_str();
    let uses = collect_all(|cursor| async move {
        records
            .package_uses(ecosystem, &query.name, cursor.as_deref(), MAX_PAGE_SIZE)
            .await
    })
    .await?;
    Ok(strata_inventory::matching(query, uses))
}

/// An SBOM of a version's lock.
#[derive(Debug, Clone)]
pub struct Sbom {
    pub name: String,
    pub version: EnvironmentVersion,
    pub text: String,
}

/// The SBOM of the lock of `reference` (its latest version when it names none); an error
/// naming `strata env lock` when it has no lock yet.
pub async fn sbom(
    records: &dyn WorkspaceStore,
    reference: &EnvironmentRef,
    format: SbomFormat,
) -> Result<Sbom, InventoryError> {
    let record = records
        .get_environment(&reference.name, reference.version.as_ref())
        .await?;
    let lock = records
        .get_lock(&record.name, &record.version)
        .await?
        .ok_or_else(|| InventoryError::NotLocked {
            name: record.name.clone(),
            version: record.version.clone(),
        })?;
    let text = sbom_of_lock(&record.name, &record.version, &lock, format);
    Ok(Sbom {
        name: record.name,
        version: record.version,
        text,
    })
}

/// The SBOM of a stored lock (the same lock always gives the same bytes).
pub fn sbom_of_lock(
    name: &str,
    version: &EnvironmentVersion,
    lock: &LockRecord,
    format: SbomFormat,
) -> String {
    strata_inventory::render_sbom(
        &SbomInput {
            env_name: name,
            env_version: version,
            lock_hash: &lock.lock_hash,
            lock: &lock.lock,
            locked_at: lock.locked_at,
            tool_version: env!("CARGO_PKG_VERSION"),
        },
        format,
    )
}

/// Which versions an audit reads.
#[derive(Debug, Clone)]
pub enum AuditScope {
    /// One version (the latest when it names none).
    One(EnvironmentRef),
    /// The latest version of every named environment.
    AllLatest,
}

/// Where advisories come from.
#[derive(Debug, Clone)]
pub enum AdvisorySource {
    /// A directory tree of OSV records or a zip archive of them, with the directory its
    /// parsed copy is kept in (keyed by the state of the source).
    Local { path: PathBuf, cache: PathBuf },
    /// An OSV API, asked only about the packages the locks pin.
    Online { url: String },
}

/// What an audit found.
#[derive(Debug)]
pub struct AuditOutcome {
    /// One report per audited version, in the scope's order.
    pub reports: Vec<AuditReport>,
    /// `NAME:VERSION` of the versions [`AuditScope::AllLatest`] skipped for having no lock.
    pub not_locked: Vec<String>,
    pub database: Arc<AdvisoryDatabase>,
}

/// A version to audit, with its lock.
struct Target {
    name: String,
    version: EnvironmentVersion,
    spec_hash: String,
    lock: LockRecord,
}

async fn read_targets(
    records: &dyn WorkspaceStore,
    scope: &AuditScope,
) -> Result<(Vec<Target>, Vec<String>), InventoryError> {
    let mut targets = Vec::new();
    let mut not_locked = Vec::new();
    match scope {
        AuditScope::AllLatest => {
            let latest = collect_all(|cursor| async move {
                records.latest_locks(cursor.as_deref(), MAX_PAGE_SIZE).await
            })
            .await?;
            for item in latest {
                let environment = item.environment;
                match item.lock {
                    Some(lock) => targets.push(Target {
                        name: environment.name,
                        version: environment.version,
                        spec_hash: environment.spec_hash,
                        lock,
                    }),
                    None => {
                        not_locked.push(format!("{}:{}", environment.name, environment.version))
                    }
                }
            }
        }
        AuditScope::One(reference) => {
            let record = records
                .get_environment(&reference.name, reference.version.as_ref())
                .await?;
            let Some(lock) = records.get_lock(&record.name, &record.version).await? else {
                return Err(InventoryError::NotLocked {
                    name: record.name,
                    version: record.version,
                });
            };
            targets.push(Target {
                spec_hash: record.summary.spec_hash,
                name: record.name,
                version: record.version,
                lock,
            });
        }
    }
    Ok((targets, not_locked))
}

/// Audits the pinned PyPI packages of the versions in `scope` against `source`. A local
/// source is read (or its parsed copy loaded) on a blocking thread while the locks are read;
/// errors about the locks come first.
pub async fn audit(
    records: &dyn WorkspaceStore,
    scope: &AuditScope,
    source: &AdvisorySource,
) -> Result<AuditOutcome, InventoryError> {
    let loading = match source {
        AdvisorySource::Local { path, cache } => {
            let (path, cache) = (path.clone(), cache.clone());
            Ok(std::thread::spawn(move || {
                AdvisoryDatabase::load_cached(&path, &cache)
            }))
        }
        AdvisorySource::Online { url } => Err(url),
    };
    let (targets, not_locked) = read_targets(records, scope).await?;
    let database = match loading {
        Ok(loading) => loading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
        Err(url) => {
            // Only the packages these locks pin are asked about.
            let mut packages: Vec<(String, String)> = targets
                .iter()
                .flat_map(|target| target.lock.lock.pypi.iter())
                .map(|package| (package.name.clone(), package.version.clone()))
                .collect();
            packages.sort();
            packages.dedup();
            // The client blocks on a runtime of its own, which cannot run inside this one.
            let url = url.clone();
            std::thread::spawn(move || fetch_advisories(&url, &packages))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?
        }
    };
    let database = Arc::new(database);
    let mut reports = Vec::with_capacity(targets.len());
    let mut auditor = Auditor::new(Arc::clone(&database));
    auditor.decide_all(targets.iter().map(|target| &target.lock.lock));
    for target in &targets {
        // The definition only bounds suggestions: it is read when something is found, once
        // per definition.
        let definition = if !auditor.knows_definition(&target.spec_hash)
            && auditor.finds_anything(&target.lock.lock)
        {
            Some(
                records
                    .get_environment(&target.name, Some(&target.version))
                    .await?
                    .environment,
            )
        } else {
            None
        };
        let report = auditor.audit(
            &format!("{}:{}", target.name, target.version),
            &target.lock.lock_hash,
            &target.lock.lock,
            Some(&target.spec_hash),
            || Ok::<_, InventoryError>(definition),
        )?;
        reports.push(report);
    }
    // Freeing a thousand parsed locks and the verdicts on their pins takes tens of
    // milliseconds that the caller need not wait for.
    std::thread::spawn(move || drop((targets, auditor)));
    Ok(AuditOutcome {
        reports,
        not_locked,
        database,
    })
}
