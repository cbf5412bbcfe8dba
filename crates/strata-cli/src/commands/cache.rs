//! `strata cache list` and `strata cache gc`.

use std::time::SystemTime;

use anyhow::Result;
use serde_json::json;
use strata_build::{Cache, list_prefixes};
use strata_core::GcError;

use crate::commands::Context;
use crate::{printer, table};

/// `strata cache list`.
pub(crate) fn list(context: &Context, json: bool) -> Result<()> {
    let cache = Cache::from_env();
    let prefixes = list_prefixes(&cache)?;
    // Which environment versions use each prefix, when a workspace is at hand.
    let users = context
        .open_workspace()
        .ok()
        .map(|w| w.lock_users())
        .transpose()?
        .unwrap_or_default();
    let users_of = |key: &str| -> Vec<String> {
        users
            .iter()
            .filter(|(hash, _)| hash.starts_with(key))
            .flat_map(|(_, versions)| versions.clone())
            .collect()
    };
    if json {
        let items: Vec<_> = prefixes
            .iter()
            .map(|p| {
                json!({
                    "key": p.key,
                    "path": p.path,
                    "bytes": p.size,
                    "lastUsed": humantime_of(p.last_used),
                    "usedBy": users_of(&p.key),
                })
            })
            .collect();
        printer::json(&json!({"cache": cache.root(), "prefixes": items}));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = prefixes
        .iter()
        .map(|p| {
            vec![
                p.key.clone(),
                table::human_bytes(p.size),
                humantime_of(p.last_used),
                users_of(&p.key).join(", "),
            ]
        })
        .collect();
    printer::out(format!("Cache: {}", cache.root().display()));
    printer::out(table::render(
        &["PREFIX", "OWN SIZE", "LAST USED", "USED BY"],
        &rows,
    ));
    Ok(())
}

/// `strata cache gc [--max-size SIZE] [--dry-run]`.
pub(crate) fn gc(
    context: &Context,
    max_size: Option<u64>,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let workspace = context.open_workspace()?;
    let cache = Cache::from_env();
    let report = match strata_core::collect_garbage(&workspace, &cache, max_size, dry_run) {
        Ok(report) => report,
        Err(GcError::Store(error)) => return Err(error.into()),
        Err(GcError::Build(error)) => return Err(error.into()),
    };
    if json {
        printer::json(&json!({
            "dryRun": dry_run,
            "removed": report.removed.iter().map(|p| json!({"key": p.key, "path": p.path, "bytes": p.size})).collect::<Vec<_>>(),
            "removedBytes": report.removed_bytes(),
            "kept": report.kept.len(),
            "inUse": report.in_use.iter().map(|p| json!({"key": p.key, "path": p.path, "bytes": p.size})).collect::<Vec<_>>(),
            "staleBuilds": report.stale_builds,
        }));
        return Ok(());
    }
    let verb = if dry_run { "Would remove" } else { "Removed" };
    for prefix in &report.removed {
        printer::out(format!(
            "{verb} {} ({})",
            prefix.path.display(),
            table::human_bytes(prefix.size)
        ));
    }
    for prefix in &report.in_use {
        printer::out(format!(
            "Kept {} ({}): in use by a run, a service or a build",
            prefix.path.display(),
            table::human_bytes(prefix.size)
        ));
    }
    for path in &report.stale_builds {
        printer::out(format!("{verb} unfinished build {}", path.display()));
    }
    printer::out(format!(
        "{verb} {} prefixes, {}; kept {}",
        report.removed.len(),
        table::human_bytes(report.removed_bytes()),
        report.kept.len() + report.in_use.len()
    ));
    Ok(())
}

fn humantime_of(time: SystemTime) -> String {
    let millis = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    strata_store::format_time(millis)
}
