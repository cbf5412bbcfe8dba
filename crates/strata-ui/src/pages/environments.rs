//! Environments: the list, one environment's versions, one version (definition, lock,
//! builds, images, users), build logs, and the diff of two versions.

use strata_spec::{EnvironmentDiff, EnvironmentRef, EnvironmentVersion, Lock, lock_diff};
use strata_store::format_time;
use strata_store::store::BrowseStore;

use crate::app::{PageResult, Request, Response, Ui, not_found};
use crate::html::{
    Paging, code, duration, esc, href, key_values, layout, link, search_form, status, table,
};
use crate::pages::PER_PAGE;

/// How many builds, runs, models and services a version page lists.
const USERS: u64 = 20;
/// The most of a build log a page shows (its end).
const LOG_TAIL: usize = 1 << 20;

pub(crate) fn version_link(base: &str, name: &str, version: &str) -> String {
    link(
        &href(
            base,
            "/environment/version",
            &[("name", name), ("version", version)],
        ),
        &format!("{name}:{version}"),
    )
}

fn short(hash: &str) -> String {
    code(hash.get(..12).unwrap_or(hash))
}

async fn last_build_cell(
    store: &dyn BrowseStore,
    name: &str,
    version: &EnvironmentVersion,
) -> PageResult<String> {
    Ok(match store.last_build(name, version).await? {
        Some(build) => format!(
            "{} {}",
            status(&build.status),
            esc(&format_time(build.finished_at))
        ),
        None => "<span class=\"muted\">never built</span>".to_string(),
    })
}

/// `/environments?q=&page=`.
pub(crate) async fn list(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let search = request.param("q").unwrap_or("");
    let paging = Paging::parse(request.param("page"), PER_PAGE);
    let store = ui.store();
    let page = store.environment_page(&paging.query(Some(search))).await?;
    let mut rows = Vec::new();
    for environment in &page.items {
        rows.push(vec![
            link(
                &href(base, "/environment", &[("name", &environment.name)]),
                &environment.name,
            ),
            version_link(base, &environment.name, environment.version.as_str()),
            esc(&environment.kind),
            short(&environment.spec_hash),
            last_build_cell(store, &environment.name, &environment.version).await?,
            esc(&format_time(environment.created_at)),
        ]);
    }
    let body = format!(
        "{}{}{}",
        search_form(base, "/environments", search, &[]),
        table(
            &[
                "Name",
                "Latest version",
                "Kind",
                "Spec hash",
                "Last build",
                "Registered"
            ],
            &rows
        ),
        paging.nav(base, "/environments", &[("q", search)], page.has_more),
    );
    Ok(Response::html(
        200,
        layout(base, "Environments", &body, None),
    ))
}

/// `/environment?name=&q=&page=`: every version, newest first, and a diff form.
pub(crate) async fn versions(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let Some(name) = request.param("name") else {
        return Ok(not_found(base, "Which environment? (?name=)"));
    };
    let search = request.param("q").unwrap_or("");
    let paging = Paging::parse(request.param("page"), PER_PAGE);
    let store = ui.store();
    let page = store
        .environment_version_page(name, &paging.query(Some(search)))
        .await?;
    if page.items.is_empty() && paging.page == 1 && search.is_empty() {
        return Ok(not_found(
            base,
            &format!("Environment `{name}` was not found"),
        ));
    }
    let mut rows = Vec::new();
    for version in &page.items {
        rows.push(vec![
            version_link(base, name, version.version.as_str()),
            short(&version.spec_hash),
            esc(version.description.as_deref().unwrap_or("")),
            last_build_cell(store, name, &version.version).await?,
            esc(&format_time(version.created_at)),
        ]);
    }
    let newest = page
        .items
        .first()
        .map(|v| format!("{name}:{}", v.version))
        .unwrap_or_default();
    let older = page
        .items
        .get(1)
        .map(|v| format!("{name}:{}", v.version))
        .unwrap_or_default();
    let body = format!(
        "{}{}{}<h2>Compare two versions</h2>{}",
        search_form(base, "/environment", search, &[("name", name)]),
        table(
            &[
                "Version",
                "Spec hash",
                "Description",
                "Last build",
                "Registered"
            ],
            &rows
        ),
        paging.nav(
            base,
            "/environment",
            &[("name", name), ("q", search)],
            page.has_more
        ),
        diff_form(base, &older, &newest),
    );
    Ok(Response::html(
        200,
        layout(base, &format!("Environment {name}"), &body, None),
    ))
}

fn parse_version(request: &Request) -> Option<(&str, EnvironmentVersion)> {
    let name = request.param("name")?;
    let version = EnvironmentVersion::from_stored(request.param("version")?.to_string());
    Some((name, version))
}

/// The packages of a lock as tables.
pub(crate) fn lock_tables(lock: &Lock) -> String {
    let mut out = String::new();
    let mut facts = vec![("Platform", esc(&lock.platform))];
    if let Some(python) = &lock.python {
        facts.push((
            "Python",
            esc(&format!("{} ({:?})", python.version, python.source).to_lowercase()),
        ));
    }
    if let Some(image) = &lock.base_image {
        facts.push((
            "Base image",
            format!("{} {}", esc(&image.reference), code(&image.digest)),
        ));
    }
    if !lock.pip_options.is_empty() {
        facts.push(("pip options", esc(&lock.pip_options.join(" "))));
    }
    out.push_str(&key_values(&facts));
    if !lock.conda.is_empty() {
        let rows: Vec<Vec<String>> = lock
            .conda
            .iter()
            .map(|p| {
                vec![
                    esc(&p.name),
                    esc(&p.version),
                    esc(&p.build),
                    esc(&p.channel),
                ]
            })
            .collect();
        out.push_str(&format!("<h3>Conda packages ({})</h3>", rows.len()));
        out.push_str(&table(&["Name", "Version", "Build", "Channel"], &rows));
    }
    if !lock.pypi.is_empty() {
        let rows: Vec<Vec<String>> = lock
            .pypi
            .iter()
            .map(|p| {
                let source = match &p.source {
                    strata_spec::PypiSource::Index { url } => format!("index {url}"),
                    strata_spec::PypiSource::Url { url } => format!("url {url}"),
                    strata_spec::PypiSource::Wheel { uri } => format!("wheel {uri}"),
                };
                vec![esc(&p.name), esc(&p.version), esc(&source)]
            })
            .collect();
        out.push_str(&format!("<h3>PyPI packages ({})</h3>", rows.len()));
        out.push_str(&table(&["Name", "Version", "Source"], &rows));
    }
    if let Some(user) = &lock.user_managed {
        out.push_str(&format!(
            "<h3>User-managed interpreter</h3><p>{} (Python {})</p><pre>{}</pre>",
            code(&user.interpreter),
            esc(&user.python_version),
            esc(&user.freeze.join("\n"))
        ));
    }
    out
}

/// `/environment/version?name=&version=`.
pub(crate) async fn version(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let Some((name, version)) = parse_version(request) else {
        return Ok(not_found(base, "Which version? (?name=&version=)"));
    };
    let store = ui.store();
    let record = store.get_environment(name, Some(&version)).await?;
    let lock = store.get_lock(name, &version).await?;
    let builds = store.builds_of_version(name, &version, USERS).await?;
    let images = store.images_of_version(name, &version).await?;
    let runs = store.runs_of_version(name, &version, USERS).await?;
    let models = store.models_of_version(name, &version, USERS).await?;
    let services = store.services_of_version(name, &version, USERS).await?;

    let summary = &record.summary;
    let mut body = key_values(&[
        (
            "Name",
            link(&href(base, "/environment", &[("name", name)]), name),
        ),
        ("Version", esc(version.as_str())),
        ("Kind", esc(&summary.kind)),
        ("Spec hash", code(&summary.spec_hash)),
        (
            "Description",
            esc(summary.description.as_deref().unwrap_or("")),
        ),
        ("Curated", esc(if summary.curated { "yes" } else { "no" })),
        ("Registered", esc(&format_time(summary.created_at))),
    ]);
    let files = record.environment.to_v1_files();
    body.push_str("<h2>Definition</h2><h3>azureml_environment.json</h3>");
    body.push_str(&format!("<pre>{}</pre>", esc(&files.environment_json)));
    if let Some(conda) = &files.conda_dependencies {
        body.push_str(&format!(
            "<h3>conda_dependencies.yml</h3><pre>{}</pre>",
            esc(conda)
        ));
    }
    if let Some(dockerfile) = &files.base_dockerfile {
        body.push_str(&format!(
            "<h3>BaseDockerfile</h3><pre>{}</pre>",
            esc(dockerfile)
        ));
    }
    body.push_str("<h2 id=\"lock\">Lock</h2>");
    match &lock {
        Some(lock) => {
            body.push_str(&format!("<p>Lock hash {}</p>", code(&lock.lock_hash)));
            body.push_str(&lock_tables(&lock.lock));
        }
        None => body.push_str("<p class=\"empty\">Not locked yet (<code>strata env lock</code> or a build locks it).</p>"),
    }
    let build_rows: Vec<Vec<String>> = builds
        .iter()
        .map(|row| {
            let build = &row.build;
            vec![
                status(&build.status),
                esc(&format_time(build.started_at)),
                esc(&duration(build.finished_at - build.started_at)),
                build.lock_hash.as_deref().map(short).unwrap_or_default(),
                esc(build.error.as_deref().unwrap_or("")),
                if build.log_digest.is_some() {
                    link(
                        &href(base, "/build-log", &[("id", &row.id.to_string())]),
                        "log",
                    )
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    body.push_str("<h2>Builds</h2>");
    body.push_str(&table(
        &["Status", "Started", "Took", "Lock", "Error", "Log"],
        &build_rows,
    ));
    body.push_str("<h2>Images</h2>");
    match images {
        Some(images) => {
            let image_rows: Vec<Vec<String>> = images
                .iter()
                .map(|image| {
                    vec![
                        esc(&image.reference),
                        esc(&image.kind),
                        short(&image.manifest_digest),
                        esc(image.base_reference.as_deref().unwrap_or("")),
                        esc(&format!("{:.1} MB", image.size as f64 / 1e6)),
                        esc(&format_time(image.created_at)),
                    ]
                })
                .collect();
            body.push_str(&table(
                &["Reference", "Kind", "Digest", "Base", "Size", "Built"],
                &image_rows,
            ));
        }
        None => body.push_str(
            "<p class=\"muted\">A team workspace keeps no image records: images stay with the \
             machine and registry that built them (<code>strata env image</code> there).</p>",
        ),
    }
    body.push_str("<h2>Used by</h2><h3>Runs</h3>");
    let run_rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                link(&href(base, "/run", &[("id", &run.id)]), &run.id),
                link(
                    &href(base, "/runs", &[("experiment", &run.experiment)]),
                    &run.experiment,
                ),
                status(&run.status),
                esc(&format_time(run.queued_at)),
            ]
        })
        .collect();
    body.push_str(&table(
        &["Run", "Experiment", "Status", "Queued"],
        &run_rows,
    ));
    body.push_str("<h3>Models</h3>");
    let model_rows: Vec<Vec<String>> = models
        .iter()
        .map(|model| {
            let version = model.version.to_string();
            vec![link(
                &href(
                    base,
                    "/model/version",
                    &[("name", &model.name), ("version", &version)],
                ),
                &format!("{}:{version}", model.name),
            )]
        })
        .collect();
    body.push_str(&table(&["Model"], &model_rows));
    body.push_str("<h3>Services</h3>");
    let service_rows: Vec<Vec<String>> = services
        .iter()
        .map(|service| {
            vec![
                link(
                    &href(base, "/service", &[("name", &service.name)]),
                    &service.name,
                ),
                status(&service.state),
            ]
        })
        .collect();
    body.push_str(&table(&["Service", "State"], &service_rows));
    let title = format!("Environment {name}:{version}");
    Ok(Response::html(200, layout(base, &title, &body, None)))
}

/// `/build-log?id=`: the end of a build's log.
pub(crate) async fn build_log(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let Some(id) = request.param("id").and_then(|id| id.parse::<i64>().ok()) else {
        return Ok(not_found(base, "Which build? (?id=)"));
    };
    let store = ui.store();
    let Some(row) = store.build_by_id(id).await? else {
        return Ok(not_found(base, &format!("Build {id} was not found")));
    };
    let Some(digest) = &row.build.log_digest else {
        return Ok(not_found(base, &format!("Build {id} kept no log")));
    };
    let bytes = ui.read_blob(digest).await?;
    let build = &row.build;
    let body = format!(
        "<p>{} {} {}</p>{}",
        version_link(base, &build.name, build.version.as_str()),
        status(&build.status),
        esc(&format_time(build.started_at)),
        log_block(&bytes),
    );
    Ok(Response::html(
        200,
        layout(base, &format!("Build {id}"), &body, None),
    ))
}

/// A log in `<pre>`: its last [`LOG_TAIL`] bytes, decoded leniently, escaped.
pub(crate) fn log_block(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(LOG_TAIL);
    let note = if start > 0 {
        format!(
            "<p class=\"muted\">Showing the last {} KiB of {} KiB.</p>",
            LOG_TAIL >> 10,
            bytes.len() >> 10
        )
    } else {
        String::new()
    };
    format!(
        "{note}<pre class=\"log\">{}</pre>",
        esc(&String::from_utf8_lossy(&bytes[start..]))
    )
}

fn diff_form(base: &str, a: &str, b: &str) -> String {
    format!(
        "<form class=\"search\" method=\"get\" action=\"{}\">\
         <label>from <input name=\"a\" value=\"{}\" placeholder=\"name:version\"></label> \
         <label>to <input name=\"b\" value=\"{}\" placeholder=\"name:version\"></label> \
         <button type=\"submit\">Diff</button></form>",
        esc(&format!("{base}/diff")),
        esc(a),
        esc(b)
    )
}

/// The package and field changes between two versions, as tables.
pub(crate) fn diff_tables(
    old: &strata_spec::Environment,
    new: &strata_spec::Environment,
) -> String {
    let diff = EnvironmentDiff::between(old, new);
    if diff.is_empty() {
        return "<p class=\"empty\">The definitions are the same.</p>".to_string();
    }
    let mut out = String::new();
    for (title, changes) in [
        ("Conda packages", &diff.conda),
        ("Pip packages", &diff.pip),
        ("Channels", &diff.channels),
        ("Other fields", &diff.fields),
    ] {
        if changes.is_empty() {
            continue;
        }
        out.push_str(&format!("<h3>{title}</h3><table class=\"diff\"><thead><tr><th>Change</th><th>Key</th><th>Old</th><th>New</th></tr></thead><tbody>"));
        for change in changes {
            let kind = change.kind();
            out.push_str(&format!(
                "<tr class=\"{kind}\"><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&change.key),
                esc(change.old.as_deref().unwrap_or("")),
                esc(change.new.as_deref().unwrap_or(""))
            ));
        }
        out.push_str("</tbody></table>");
    }
    out
}

/// The locked package changes between two locks (the drift of a refresh).
pub(crate) fn lock_diff_table(old: &Lock, new: &Lock) -> String {
    let changes = lock_diff(old, new);
    if changes.is_empty() {
        return "<p class=\"empty\">The locks hold the same packages.</p>".to_string();
    }
    let mut out = String::from(
        "<table class=\"diff\"><thead><tr><th>Change</th><th>Package</th><th>Old</th><th>New</th></tr></thead><tbody>",
    );
    for (name, old, new) in changes {
        let kind = match (&old, &new) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            _ => "changed",
        };
        out.push_str(&format!(
            "<tr class=\"{kind}\"><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&name),
            esc(old.as_deref().unwrap_or("")),
            esc(new.as_deref().unwrap_or(""))
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// `/diff?a=name:version&b=name:version`.
pub(crate) async fn diff(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let a = request.param("a").unwrap_or("");
    let b = request.param("b").unwrap_or("");
    let mut body = diff_form(base, a, b);
    if !a.is_empty() && !b.is_empty() {
        let parse = |text: &str| text.parse::<EnvironmentRef>();
        match (parse(a), parse(b)) {
            (Ok(old), Ok(new)) => {
                let store = ui.store();
                let old_record = store
                    .get_environment(&old.name, old.version.as_ref())
                    .await?;
                let new_record = store
                    .get_environment(&new.name, new.version.as_ref())
                    .await?;
                let old_lock = store
                    .get_lock(&old_record.name, &old_record.version)
                    .await?;
                let new_lock = store
                    .get_lock(&new_record.name, &new_record.version)
                    .await?;
                body.push_str(&format!(
                    "<h2>{} → {}</h2>",
                    version_link(base, &old_record.name, old_record.version.as_str()),
                    version_link(base, &new_record.name, new_record.version.as_str())
                ));
                body.push_str(&diff_tables(
                    &old_record.environment,
                    &new_record.environment,
                ));
                body.push_str("<h2>Locked packages</h2>");
                match (&old_lock, &new_lock) {
                    (Some(old), Some(new)) => body.push_str(&lock_diff_table(&old.lock, &new.lock)),
                    _ => body.push_str("<p class=\"empty\">Both versions need a lock to compare locked packages.</p>"),
                }
            }
            (Err(error), _) | (_, Err(error)) => {
                body.push_str(&format!(
                    "<p class=\"error\">{}</p>",
                    esc(&error.to_string())
                ));
            }
        }
    }
    Ok(Response::html(200, layout(base, "Diff", &body, None)))
}
