//! Experiments and runs: the run table (sortable, filterable, with metric columns), one run
//! (log, charts, tags, outputs, environment and lock), file downloads, and run comparison.

use strata_store::store::BrowseStore;
use strata_store::{Manifest, RunFilter, RunRecord, RunSort, format_time, now_millis};

use crate::app::{PageResult, Request, Response, Ui, not_found};
use crate::chart::{Series, line_chart, series_of};
use crate::html::{
    Paging, code, duration, esc, href, key_values, layout, link, number, search_form, status, table,
};
use crate::pages::PER_PAGE;
use crate::pages::environments::{
    diff_tables, lock_diff_table, lock_tables, log_block, version_link,
};

/// Metric columns shown in a run table at most.
const METRIC_COLUMNS: usize = 8;
/// Runs a comparison overlays at most.
const COMPARE_MAX: usize = 8;
/// Files of a manifest listed at most.
const FILES_MAX: usize = 500;
/// Seconds between reloads of a page of a run that has not finished.
const FOLLOW_SECONDS: u32 = 2;
const STATUSES: [&str; 6] = [
    "Queued",
    "Preparing",
    "Running",
    "Completed",
    "Failed",
    "Canceled",
];

/// `/experiments?q=&page=`.
pub(crate) async fn experiments(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let search = request.param("q").unwrap_or("");
    let paging = Paging::parse(request.param("page"), PER_PAGE);
    let page = ui
        .store()
        .experiment_page(&paging.query(Some(search)))
        .await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|experiment| {
            vec![
                link(
                    &href(base, "/runs", &[("experiment", &experiment.name)]),
                    &experiment.name,
                ),
                esc(&experiment.runs.to_string()),
                esc(&format_time(experiment.last_queued_at)),
            ]
        })
        .collect();
    let body = format!(
        "{}{}{}",
        search_form(base, "/experiments", search, &[]),
        table(&["Experiment", "Runs", "Last run"], &rows),
        paging.nav(base, "/experiments", &[("q", search)], page.has_more),
    );
    Ok(Response::html(
        200,
        layout(base, "Experiments", &body, None),
    ))
}

fn run_duration(run: &RunRecord) -> Option<i64> {
    let start = run.started_at?;
    Some(run.finished_at.unwrap_or_else(now_millis) - start)
}

fn parse_sort(value: Option<&str>) -> RunSort {
    match value {
        Some("status") => RunSort::Status,
        Some("duration") => RunSort::Duration,
        Some("environment") => RunSort::Environment,
        Some(metric) if metric.starts_with("metric:") => {
            RunSort::Metric(metric["metric:".len()..].to_string())
        }
        _ => RunSort::Queued,
    }
}

/// `/runs?experiment=&status=&q=&sort=&order=&page=`.
pub(crate) async fn list(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let Some(experiment) = request.param("experiment") else {
        return Ok(not_found(base, "Which experiment? (?experiment=)"));
    };
    let search = request.param("q").unwrap_or("");
    let status_filter = request.param("status").filter(|s| STATUSES.contains(s));
    let sort_key = request.param("sort").unwrap_or("queued");
    let descending = request.param("order") != Some("asc");
    let paging = Paging::parse(request.param("page"), PER_PAGE);
    let filter = RunFilter {
        experiment: experiment.to_string(),
        status: status_filter.map(str::to_string),
        sort: parse_sort(Some(sort_key)),
        descending,
    };
    let store = ui.store();
    let page = store.run_page(&filter, &paging.query(Some(search))).await?;
    let mut metrics = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for run in &page.items {
        let values = store.last_scalar_metrics(&run.id).await?;
        for (name, _) in &values {
            if !names.contains(name) && names.len() < METRIC_COLUMNS {
                names.push(name.clone());
            }
        }
        metrics.push(values);
    }

    let status_value = status_filter.unwrap_or("");
    let keep: Vec<(&str, &str)> = vec![
        ("experiment", experiment),
        ("status", status_value),
        ("q", search),
        ("sort", sort_key),
        ("order", if descending { "desc" } else { "asc" }),
    ];
    // A header links to sorting by it; the current column toggles its direction.
    let header = |key: &str, text: &str| {
        let order = if key == sort_key && descending {
            "asc"
        } else {
            "desc"
        };
        let arrow = match (key == sort_key, descending) {
            (true, true) => " ↓",
            (true, false) => " ↑",
            _ => "",
        };
        let target = href(
            base,
            "/runs",
            &[
                ("experiment", experiment),
                ("status", status_value),
                ("q", search),
                ("sort", key),
                ("order", order),
            ],
        );
        format!("<th>{}</th>", link(&target, &format!("{text}{arrow}")))
    };
    let mut head = String::from("<table><thead><tr><th>Compare</th><th>Run</th>");
    head.push_str(&header("status", "Status"));
    head.push_str(&header("queued", "Queued"));
    head.push_str(&header("duration", "Duration"));
    head.push_str(&header("environment", "Environment"));
    for name in &names {
        head.push_str(&header(&format!("metric:{name}"), name));
    }
    head.push_str("</tr></thead><tbody>");
    let mut rows = String::new();
    for (run, values) in page.items.iter().zip(&metrics) {
        rows.push_str(&format!(
            "<tr><td><input type=\"checkbox\" name=\"run\" value=\"{}\" aria-label=\"compare\"></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            esc(&run.id),
            link(&href(base, "/run", &[("id", &run.id)]), &run.id),
            status(&run.status),
            esc(&format_time(run.queued_at)),
            esc(&run_duration(run).map(duration).unwrap_or_default()),
            version_link(base, &run.env_name, run.env_version.as_str()),
        ));
        for name in &names {
            let value = values
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| number(*v));
            rows.push_str(&format!(
                "<td class=\"num\">{}</td>",
                esc(&value.unwrap_or_default())
            ));
        }
        rows.push_str("</tr>");
    }
    let status_options: String = std::iter::once("")
        .chain(STATUSES)
        .map(|s| {
            let selected = if s == status_value { " selected" } else { "" };
            let label = if s.is_empty() { "any status" } else { s };
            format!(
                "<option value=\"{}\"{selected}>{}</option>",
                esc(s),
                esc(label)
            )
        })
        .collect();
    let filters = format!(
        "<form class=\"search\" method=\"get\" action=\"{}\">\
         <input type=\"hidden\" name=\"experiment\" value=\"{}\">\
         <input type=\"hidden\" name=\"sort\" value=\"{}\">\
         <input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"id, script or tag\" aria-label=\"search\"> \
         <select name=\"status\" aria-label=\"status\">{status_options}</select> \
         <button type=\"submit\">Filter</button></form>",
        esc(&format!("{base}/runs")),
        esc(experiment),
        esc(sort_key),
        esc(search),
    );
    let table_markup = if page.items.is_empty() {
        "<p class=\"empty\">No runs match.</p>".to_string()
    } else {
        format!(
            "<form method=\"get\" action=\"{}\">{head}{rows}</tbody></table>\
             <button type=\"submit\">Compare selected runs</button></form>",
            esc(&format!("{base}/compare"))
        )
    };
    let body = format!(
        "{filters}{table_markup}{}",
        paging.nav(base, "/runs", &keep, page.has_more)
    );
    Ok(Response::html(
        200,
        layout(base, &format!("Experiment {experiment}"), &body, None),
    ))
}

/// The run's stdout and stderr, as the store has it: live while the run writes it, stored
/// once it ended.
async fn run_log(store: &dyn BrowseStore, run: &RunRecord) -> PageResult<Option<Vec<u8>>> {
    let chunk = store.read_run_log(&run.id, 0, u64::MAX).await?;
    Ok((!chunk.text.is_empty()).then(|| chunk.text.into_bytes()))
}

fn file_table(base: &str, path: &str, owner: &[(&str, &str)], manifest: &Manifest) -> String {
    let rows: Vec<Vec<String>> = manifest
        .files
        .iter()
        .take(FILES_MAX)
        .map(|entry| {
            let mut params = owner.to_vec();
            params.push(("path", &entry.path));
            vec![
                link(&href(base, path, &params), &entry.path),
                esc(&format!("{} bytes", entry.size)),
            ]
        })
        .collect();
    let mut out = table(&["File", "Size"], &rows);
    if manifest.files.len() > FILES_MAX {
        out.push_str(&format!(
            "<p class=\"muted\">{} more files not listed.</p>",
            manifest.files.len() - FILES_MAX
        ));
    }
    out
}

/// `/run?id=`.
pub(crate) async fn run(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let Some(id) = request.param("id") else {
        return Ok(not_found(base, "Which run? (?id=)"));
    };
    let store = ui.store();
    let run = store.get_run(id).await?;
    let metrics = store.run_metrics(id).await?;
    let tags = store.run_tags(id).await?;
    let log = run_log(store, &run).await?;
    let outputs = match run.outputs.as_deref() {
        Some(digest) => Some(ui.read_manifest(digest).await?),
        None => None,
    };
    let logs = match run.logs.as_deref() {
        Some(digest) => Some(ui.read_manifest(digest).await?),
        None => None,
    };
    let lock = store.get_lock(&run.env_name, &run.env_version).await?;
    let models = store.models_of_run(id).await?;

    let mut facts = vec![
        (
            "Experiment",
            link(
                &href(base, "/runs", &[("experiment", &run.experiment)]),
                &run.experiment,
            ),
        ),
        ("Status", status(&run.status)),
        (
            "Script",
            code(format!("{} {}", run.script, run.arguments.join(" ")).trim_end()),
        ),
        ("Target", esc(&run.target)),
        (
            "Environment",
            version_link(base, &run.env_name, run.env_version.as_str()),
        ),
        ("Queued", esc(&format_time(run.queued_at))),
        (
            "Duration",
            esc(&run_duration(&run).map(duration).unwrap_or_default()),
        ),
    ];
    if let Some(code_value) = run.exit_code {
        facts.push(("Exit code", esc(&code_value.to_string())));
    }
    if let Some(error) = &run.error {
        facts.push((
            "Error",
            format!("<span class=\"error\">{}</span>", esc(error)),
        ));
    }
    if let Some(hash) = &run.lock_hash {
        facts.push(("Lock", code(hash)));
    }
    if let Some(image) = &run.image {
        facts.push(("Image", code(image)));
    }
    let mut body = key_values(&facts);
    if !models.is_empty() {
        let list: Vec<String> = models
            .iter()
            .map(|m| {
                let version = m.version.to_string();
                link(
                    &href(
                        base,
                        "/model/version",
                        &[("name", &m.name), ("version", &version)],
                    ),
                    &format!("{}:{version}", m.name),
                )
            })
            .collect();
        body.push_str(&format!(
            "<p>Models registered from this run: {}</p>",
            list.join(", ")
        ));
    }
    body.push_str("<h2>Tags</h2>");
    let tag_rows: Vec<Vec<String>> = tags
        .iter()
        .map(|(key, value)| vec![esc(key), esc(value.as_deref().unwrap_or(""))])
        .collect();
    body.push_str(&table(&["Tag", "Value"], &tag_rows));
    body.push_str("<h2>Metrics</h2>");
    let series = series_of(&metrics);
    let numeric: Vec<_> = series
        .iter()
        .filter(|(_, points)| !points.is_empty())
        .collect();
    if numeric.is_empty() {
        body.push_str("<p class=\"empty\">No numeric metrics logged.</p>");
    }
    body.push_str("<div class=\"charts\">");
    for (name, points) in numeric {
        body.push_str(&line_chart(
            name,
            &[Series {
                label: name.clone(),
                points: points.clone(),
            }],
        ));
    }
    body.push_str("</div>");
    let other: Vec<Vec<String>> = metrics
        .iter()
        .filter(|m| !m.value.is_number() && !m.value.is_array())
        .take(FILES_MAX)
        .map(|m| vec![esc(&m.name), esc(&m.value.to_string())])
        .collect();
    if !other.is_empty() {
        body.push_str(&table(&["Metric", "Value"], &other));
    }
    body.push_str("<h2>Log</h2>");
    match &log {
        Some(bytes) => body.push_str(&log_block(bytes)),
        None => body.push_str("<p class=\"empty\">No output yet.</p>"),
    }
    if !run.is_finished() {
        body.push_str(&format!("<p class=\"muted\">Following: this page reloads every {FOLLOW_SECONDS} s until the run ends.</p>"));
    }
    body.push_str("<h2>Outputs</h2>");
    match &outputs {
        Some(manifest) => body.push_str(&file_table(
            base,
            "/run/file",
            &[("id", id), ("tree", "outputs")],
            manifest,
        )),
        None => body.push_str("<p class=\"empty\">No outputs stored (yet).</p>"),
    }
    if let Some(manifest) = &logs {
        body.push_str("<h3>Log files</h3>");
        body.push_str(&file_table(
            base,
            "/run/file",
            &[("id", id), ("tree", "logs")],
            manifest,
        ));
    }
    body.push_str(&format!(
        "<h2>Environment {}</h2>",
        version_link(base, &run.env_name, run.env_version.as_str())
    ));
    match &lock {
        Some(lock) => {
            body.push_str(&format!("<p>Lock hash {}</p>", code(&lock.lock_hash)));
            if run
                .lock_hash
                .as_deref()
                .is_some_and(|h| h != lock.lock_hash)
            {
                body.push_str("<p class=\"error\">The version has been re-locked since this run; the run used the lock hash above.</p>");
            }
            body.push_str(&lock_tables(&lock.lock));
        }
        None => body.push_str("<p class=\"empty\">The version has no lock.</p>"),
    }
    let refresh = (!run.is_finished()).then_some(FOLLOW_SECONDS);
    Ok(Response::html(
        200,
        layout(base, &format!("Run {id}"), &body, refresh),
    ))
}

/// `/run/file?id=&tree=outputs|logs&path=`: one stored file, as a download.
pub(crate) async fn file(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let (Some(id), Some(path)) = (request.param("id"), request.param("path")) else {
        return Ok(not_found(base, "Which file? (?id=&tree=&path=)"));
    };
    let store = ui.store();
    let run = store.get_run(id).await?;
    let digest = match request.param("tree") {
        Some("logs") => run.logs,
        _ => run.outputs,
    };
    let Some(digest) = digest else {
        return Ok(not_found(base, "The run stored no such files"));
    };
    let manifest = ui.read_manifest(&digest).await?;
    let Some(entry) = manifest.files.iter().find(|f| f.path == path) else {
        return Ok(not_found(base, &format!("No file `{path}` in the run")));
    };
    let staged = ui.stage_blob(&entry.digest).await?;
    Ok(Response::download(path, staged))
}

/// `/compare?run=A&run=B…`: metrics overlaid, environments diffed against the first run's.
pub(crate) async fn compare(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let ids = request.params("run");
    if ids.len() < 2 {
        let body = "<p>Choose two or more runs in an experiment's run table, then “Compare selected runs”.</p>";
        return Ok(Response::html(
            200,
            layout(base, "Compare runs", body, None),
        ));
    }
    let store = ui.store();
    let mut runs = Vec::new();
    for id in ids.iter().take(COMPARE_MAX) {
        let run = store.get_run(id).await?;
        let metrics = store.run_metrics(id).await?;
        let environment = store
            .get_environment(&run.env_name, Some(&run.env_version))
            .await?;
        let lock = store.get_lock(&run.env_name, &run.env_version).await?;
        runs.push((run, series_of(&metrics), environment, lock));
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|(run, _, _, _)| {
            vec![
                link(&href(base, "/run", &[("id", &run.id)]), &run.id),
                status(&run.status),
                version_link(base, &run.env_name, run.env_version.as_str()),
                esc(&run_duration(run).map(duration).unwrap_or_default()),
            ]
        })
        .collect();
    let mut body = table(&["Run", "Status", "Environment", "Duration"], &rows);
    body.push_str("<h2>Metrics</h2><div class=\"charts\">");
    let mut names: Vec<&str> = Vec::new();
    for (_, series, _, _) in &runs {
        for (name, points) in series {
            if !points.is_empty() && !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    for name in &names {
        let overlaid: Vec<Series> = runs
            .iter()
            .map(|(run, series, _, _)| Series {
                label: run.id.clone(),
                points: series
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, p)| p.clone())
                    .unwrap_or_default(),
            })
            .collect();
        body.push_str(&line_chart(name, &overlaid));
    }
    body.push_str("</div><h2>Environments</h2>");
    let (first, _, first_environment, first_lock) = &runs[0];
    for (run, _, environment, lock) in &runs[1..] {
        body.push_str(&format!(
            "<h3>{} → {}</h3>",
            version_link(base, &first.env_name, first.env_version.as_str()),
            version_link(base, &run.env_name, run.env_version.as_str())
        ));
        if first.env_name == run.env_name && first.env_version == run.env_version {
            body.push_str("<p class=\"empty\">Same environment version.</p>");
            continue;
        }
        body.push_str(&diff_tables(
            &first_environment.environment,
            &environment.environment,
        ));
        if let (Some(old), Some(new)) = (first_lock, lock) {
            body.push_str("<h4>Locked packages</h4>");
            body.push_str(&lock_diff_table(&old.lock, &new.lock));
        }
    }
    Ok(Response::html(
        200,
        layout(base, "Compare runs", &body, None),
    ))
}
