//! Models: the list, one model's versions, and one version with its files and lineage
//! (model ← run ← environment version ← lock).

use strata_store::format_time;

use crate::app::{PageResult, Request, Response, Ui, not_found};
use crate::html::{Paging, code, esc, href, key_values, layout, link, search_form, status, table};
use crate::pages::PER_PAGE;
use crate::pages::environments::version_link;

fn model_link(base: &str, name: &str, version: u64) -> String {
    let version = version.to_string();
    link(
        &href(
            base,
            "/model/version",
            &[("name", name), ("version", &version)],
        ),
        &format!("{name}:{version}"),
    )
}

/// `/models?q=&page=`.
pub(crate) async fn list(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let search = request.param("q").unwrap_or("");
    let paging = Paging::parse(request.param("page"), PER_PAGE);
    let page = ui.store().model_page(&paging.query(Some(search))).await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|model| {
            vec![
                link(&href(base, "/model", &[("name", &model.name)]), &model.name),
                model_link(base, &model.name, model.version),
                esc(model.description.as_deref().unwrap_or("")),
                esc(&format_time(model.created_at)),
            ]
        })
        .collect();
    let body = format!(
        "{}{}{}",
        search_form(base, "/models", search, &[]),
        table(
            &["Name", "Latest version", "Description", "Registered"],
            &rows
        ),
        paging.nav(base, "/models", &[("q", search)], page.has_more),
    );
    Ok(Response::html(200, layout(base, "Models", &body, None)))
}

/// `/model?name=&page=`.
pub(crate) async fn versions(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let Some(name) = request.param("name") else {
        return Ok(not_found(base, "Which model? (?name=)"));
    };
    let paging = Paging::parse(request.param("page"), PER_PAGE);
    let page = ui
        .store()
        .model_version_page(name, &paging.query(None))
        .await?;
    if page.items.is_empty() && paging.page == 1 {
        return Ok(not_found(base, &format!("Model `{name}` was not found")));
    }
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|model| {
            vec![
                model_link(base, &model.name, model.version),
                model
                    .run_id
                    .as_deref()
                    .map(|id| link(&href(base, "/run", &[("id", id)]), id))
                    .unwrap_or_default(),
                match (&model.env_name, &model.env_version) {
                    (Some(env), Some(version)) => version_link(base, env, version.as_str()),
                    _ => String::new(),
                },
                esc(&format_time(model.created_at)),
            ]
        })
        .collect();
    let body = format!(
        "{}{}",
        table(&["Version", "Run", "Environment", "Registered"], &rows),
        paging.nav(base, "/model", &[("name", name)], page.has_more),
    );
    Ok(Response::html(
        200,
        layout(base, &format!("Model {name}"), &body, None),
    ))
}

fn parse(request: &Request) -> Option<(&str, u64)> {
    Some((
        request.param("name")?,
        request.param("version")?.parse().ok()?,
    ))
}

/// `/model/version?name=&version=`.
pub(crate) async fn version(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let Some((name, version)) = parse(request) else {
        return Ok(not_found(base, "Which model version? (?name=&version=)"));
    };
    let store = ui.store();
    let model = store.get_model(name, Some(version)).await?;
    let manifest = ui.read_manifest(&model.manifest).await?;
    let run = match &model.run_id {
        Some(id) => match store.get_run(id).await {
            Ok(run) => Some(run),
            Err(strata_store::StoreError::NotFound { .. }) => None,
            Err(error) => return Err(error.into()),
        },
        None => None,
    };

    let mut body = key_values(&[
        ("Name", link(&href(base, "/model", &[("name", name)]), name)),
        ("Version", esc(&version.to_string())),
        ("Path", code(&model.path)),
        (
            "Description",
            esc(model.description.as_deref().unwrap_or("")),
        ),
        ("Registered", esc(&format_time(model.created_at))),
    ]);
    body.push_str("<h2>Lineage</h2><ol class=\"lineage\">");
    body.push_str(&format!(
        "<li><span class=\"step\">model</span> {}</li>",
        model_link(base, name, version)
    ));
    match (&model.run_id, &run) {
        (Some(id), Some(run)) => body.push_str(&format!(
            "<li><span class=\"step\">run</span> {} {} in {}</li>",
            link(&href(base, "/run", &[("id", id)]), id),
            status(&run.status),
            link(&href(base, "/runs", &[("experiment", &run.experiment)]), &run.experiment),
        )),
        (Some(id), None) => body.push_str(&format!(
            "<li><span class=\"step\">run</span> {} (no longer in the workspace)</li>",
            code(id)
        )),
        (None, _) => body.push_str("<li><span class=\"step\">run</span> <span class=\"muted\">registered from files, not a run</span></li>"),
    }
    match (&model.env_name, &model.env_version) {
        (Some(env), Some(env_version)) => body.push_str(&format!(
            "<li><span class=\"step\">environment</span> {}</li>",
            version_link(base, env, env_version.as_str())
        )),
        _ => body.push_str(
            "<li><span class=\"step\">environment</span> <span class=\"muted\">unknown</span></li>",
        ),
    }
    match (&model.lock_hash, &model.env_name, &model.env_version) {
        (Some(hash), Some(env), Some(env_version)) => {
            let target = format!(
                "{}#lock",
                href(
                    base,
                    "/environment/version",
                    &[("name", env), ("version", env_version.as_str())]
                )
            );
            body.push_str(&format!(
                "<li><span class=\"step\">lock</span> <a href=\"{}\"><code>{}</code></a></li>",
                esc(&target),
                esc(hash)
            ));
        }
        (Some(hash), _, _) => body.push_str(&format!(
            "<li><span class=\"step\">lock</span> {}</li>",
            code(hash)
        )),
        _ => body.push_str(
            "<li><span class=\"step\">lock</span> <span class=\"muted\">none recorded</span></li>",
        ),
    }
    body.push_str("</ol><h2>Files</h2>");
    let version_text = version.to_string();
    let rows: Vec<Vec<String>> = manifest
        .files
        .iter()
        .take(500)
        .map(|entry| {
            vec![
                link(
                    &href(
                        base,
                        "/model/file",
                        &[
                            ("name", name),
                            ("version", &version_text),
                            ("path", &entry.path),
                        ],
                    ),
                    &entry.path,
                ),
                esc(&format!("{} bytes", entry.size)),
            ]
        })
        .collect();
    body.push_str(&table(&["File", "Size"], &rows));
    Ok(Response::html(
        200,
        layout(base, &format!("Model {name}:{version}"), &body, None),
    ))
}

/// `/model/file?name=&version=&path=`: one file of a model, as a download.
pub(crate) async fn file(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let (Some((name, version)), Some(path)) = (parse(request), request.param("path")) else {
        return Ok(not_found(base, "Which file? (?name=&version=&path=)"));
    };
    let store = ui.store();
    let model = store.get_model(name, Some(version)).await?;
    let manifest = ui.read_manifest(&model.manifest).await?;
    let Some(entry) = manifest.files.iter().find(|f| f.path == path) else {
        return Ok(not_found(base, &format!("No file `{path}` in the model")));
    };
    let staged = ui.stage_blob(&entry.digest).await?;
    Ok(Response::download(path, staged))
}
