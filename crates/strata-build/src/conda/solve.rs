//! Resolving conda specs against channels (rattler's gateway and the resolvo solver).

use std::error::Error as _;
use std::str::FromStr;

use rattler_cache::package_cache::PackageCache;
use rattler_conda_types::{MatchSpec, ParseStrictness, Subdir};
use rattler_repodata_gateway::{ChannelRelationsMode, Gateway, GatewayError};
use rattler_solve::{SolveError, SolverImpl, SolverTask, resolvo};
use strata_spec::CondaLockedPackage;

use super::channel::{ResolvedChannel, resolve_channels};
use super::records::to_locked;
use super::virtual_packages::virtual_packages;
use super::{CondaError, CondaSolveRequest, package_cache_dir, repodata_cache_dir, runtime};

pub(crate) fn solve(request: &CondaSolveRequest) -> Result<Vec<CondaLockedPackage>, CondaError> {
    let platform = parse_platform(request.platform)?;
    let channels = resolve_channels(request.channels)?;
    let specs = request
        .specs
        .iter()
        .map(|spec| {
            MatchSpec::from_str(spec, ParseStrictness::Lenient).map_err(|source| {
                CondaError::InvalidSpec {
                    spec: spec.clone(),
                    source,
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut subdirs = vec![platform];
    if platform != Subdir::NoArch {
        subdirs.push(Subdir::NoArch);
    }
    // Declared before the gateway so that it outlives the gateway's HTTP client.
    let runtime = runtime()?;
    let gateway = Gateway::builder()
        .with_cache_dir(repodata_cache_dir(request.cache_dir))
        .with_package_cache(PackageCache::new(package_cache_dir(request.cache_dir)))
        .finish();
    let query = gateway
        .query(
            channels.iter().map(|channel| channel.channel.clone()),
            subdirs,
            specs.clone(),
        )
        .recursive(true)
        .channel_relations(ChannelRelationsMode::Disabled);
    let repodata = runtime
        .block_on(query.into_future())
        .map_err(|err| gateway_error(err, &channels))?;

    let task = SolverTask {
        specs,
        virtual_packages: virtual_packages(platform),
        ..SolverTask::from_iter(repodata.repodata.iter())
    };
    let solution = resolvo::Solver.solve(task).map_err(|err| match err {
        SolveError::Unsolvable(explanation) => CondaError::Unsatisfiable {
            specs: backticked(request.specs),
            explanation: explanation.join("\n").trim_end().to_string(),
        },
        source => CondaError::Solver {
            source: Box::new(source),
        },
    })?;

    let mut locked: Vec<CondaLockedPackage> = solution
        .records
        .iter()
        .map(|record| to_locked(record, &channels))
        .collect();
    locked.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(locked)
}

pub(crate) fn parse_platform(platform: &str) -> Result<Subdir, CondaError> {
    Subdir::from_str(platform).map_err(|source| CondaError::InvalidPlatform {
        platform: platform.to_string(),
        source,
    })
}

/// Names the channel the gateway failed on: the one in a "subdir not found" error, else the
/// one whose URL the error chain mentions, else the only one.
fn gateway_error(err: GatewayError, channels: &[ResolvedChannel]) -> CondaError {
    let mut url = match &err {
        GatewayError::SubdirNotFoundError(not_found) => {
            Some(not_found.channel.base_url.as_str().to_string())
        }
        _ => None,
    };
    if url.is_none() {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push('\n');
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        url = channels
            .iter()
            .filter(|channel| text.contains(channel.base_url().trim_end_matches('/')))
            .max_by_key(|channel| channel.base_url().len())
            .map(|channel| channel.base_url().to_string());
    }
    if url.is_none()
        && let [channel] = channels
    {
        url = Some(channel.base_url().to_string());
    }
    let why = unreachable_reason(&err);
    match url {
        Some(url) => CondaError::Channel {
            url: url.trim_end_matches('/').to_string(),
            why,
            source: Box::new(err),
        },
        None => CondaError::Repodata {
            channels: backticked(
                &channels
                    .iter()
                    .map(|channel| channel.base_url().trim_end_matches('/').to_string())
                    .collect::<Vec<_>>(),
            ),
            source: Box::new(err),
        },
    }
}

/// What the chain of a repodata error comes down to, in a few words.
fn unreachable_reason(err: &GatewayError) -> String {
    let mut messages = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        messages.push(cause.to_string());
        source = cause.source();
    }
    let all = messages.join("\n").to_lowercase();
    if all.contains("dns error") || all.contains("failed to lookup address") {
        "its host name does not resolve from this machine".to_string()
    } else if all.contains("connection refused") {
        "the connection was refused".to_string()
    } else if all.contains("timed out") {
        "the connection timed out".to_string()
    } else if all.contains("404") {
        "there is no repodata at that address (HTTP 404)".to_string()
    } else if all.contains("certificate") {
        "its TLS certificate is not trusted".to_string()
    } else {
        messages.last().cloned().unwrap_or_default()
    }
}

fn backticked(values: &[String]) -> String {
    values
        .iter()
        .map(|value| format!("`{value}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
