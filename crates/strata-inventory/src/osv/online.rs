//! An online OSV source (the osv.dev API, or a mirror of it): the records of the advisories
//! that affect the given PyPI packages, fetched with `POST /querybatch` and `GET /vulns/{id}`,
//! then matched with the same PEP 440 rules as a local copy.

use std::collections::BTreeSet;

use super::AdvisoryDatabase;
use crate::error::InventoryError;

/// Whether an advisory source names an OSV API rather than a directory or archive.
pub fn is_online_source(source: &str) -> bool {
    source.starts_with("https://") || source.starts_with("http://")
}

/// The records of every advisory the API lists for `packages` (`(name, version)` pairs).
pub fn fetch_advisories(
    api: &str,
    packages: &[(String, String)],
) -> Result<AdvisoryDatabase, InventoryError> {
    let api = api.trim_end_matches('/').to_string();
    let error = |reason: String| InventoryError::Online {
        url: api.clone(),
        reason,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| error(e.to_string()))?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| error(e.to_string()))?;
    runtime.block_on(async {
        let mut ids = BTreeSet::new();
        // osv.dev answers at most 1,000 queries a batch.
        for chunk in packages.chunks(1000) {
            let queries: Vec<serde_json::Value> = chunk
                .iter()
                .map(|(name, version)| {
                    serde_json::json!({"package": {"name": name, "ecosystem": "PyPI"}, "version": version})
                })
                .collect();
            let body = serde_json::json!({ "queries": queries });
            let answer = get_json(
                client
                    .post(format!("{api}/querybatch"))
                    .header("Content-Type", "application/json")
                    .body(body.to_string()),
            )
            .await
            .map_err(|reason| error(format!("querybatch: {reason}")))?;
            for result in answer["results"].as_array().into_iter().flatten() {
                for vuln in result["vulns"].as_array().into_iter().flatten() {
                    if let Some(id) = vuln["id"].as_str() {
                        ids.insert(id.to_string());
                    }
                }
            }
        }
        let mut files = Vec::with_capacity(ids.len());
        for id in ids {
            if id.contains(['/', '?', '#']) {
                return Err(error(format!("the API named an invalid advisory id `{id}`")));
            }
            let record = get_json(client.get(format!("{api}/vulns/{id}")))
                .await
                .map_err(|reason| error(format!("{id}: {reason}")))?;
            files.push((format!("{id}.json"), record.to_string().into_bytes()));
        }
        AdvisoryDatabase::from_files(files)
    })
}

async fn get_json(request: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
    let response = request.send().await.map_err(|e| chain(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let bytes = response.bytes().await.map_err(|e| chain(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))
}

/// An error and its causes in one line (reqwest's own message is only the outermost).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
