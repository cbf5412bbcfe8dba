//! Services: the list, one service with a scoring form, and the forwarding of that form's
//! JSON body to the service's `/score` on 127.0.0.1 (the only request that is not a read;
//! it carries the per-process CSRF token).

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use strata_store::{ServiceRecord, format_time};

use crate::app::{PageResult, Request, Response, Ui, not_found};
use crate::html::{Paging, code, esc, href, key_values, layout, link, search_form, status, table};
use crate::pages::PER_PAGE;
use crate::pages::environments::version_link;

/// The largest body the form forwards, and the largest answer it shows.
const MAX_BODY: usize = 1 << 20;

/// `/services?q=&page=`.
pub(crate) async fn list(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let search = request.param("q").unwrap_or("");
    let paging = Paging::parse(request.param("page"), PER_PAGE);
    let page = ui.store().service_page(&paging.query(Some(search))).await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|service| {
            vec![
                link(
                    &href(base, "/service", &[("name", &service.name)]),
                    &service.name,
                ),
                status(&service.state),
                code(&service.url()),
                esc(&models_text(service)),
                version_link(base, &service.env_name, service.env_version.as_str()),
            ]
        })
        .collect();
    let body = format!(
        "{}{}{}",
        search_form(base, "/services", search, &[]),
        table(&["Name", "State", "URL", "Models", "Environment"], &rows),
        paging.nav(base, "/services", &[("q", search)], page.has_more),
    );
    Ok(Response::html(200, layout(base, "Services", &body, None)))
}

fn models_text(service: &ServiceRecord) -> String {
    service
        .models
        .iter()
        .map(|m| format!("{}:{}", m.name, m.version))
        .collect::<Vec<_>>()
        .join(", ")
}

fn service_page(
    ui: &Ui,
    service: &ServiceRecord,
    body_text: &str,
    answer: Option<String>,
) -> String {
    let base = ui.base();
    let models: Vec<String> = service
        .models
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
    let mut body = key_values(&[
        ("State", status(&service.state)),
        ("URL", code(&service.url())),
        ("Models", models.join(", ")),
        (
            "Environment",
            version_link(base, &service.env_name, service.env_version.as_str()),
        ),
        ("Entry script", code(&service.entry_script)),
        ("Workers", esc(&service.config.workers.to_string())),
        ("Error", esc(service.error.as_deref().unwrap_or(""))),
        ("Updated", esc(&format_time(service.updated_at))),
    ]);
    if !ui.can_score() {
        body.push_str(&format!(
            "<h2>Score</h2><p class=\"muted\">The service answers on the machine that deployed \
             it (<code>{}</code>); score it from there, for example with \
             <code>curl -H 'Content-Type: application/json' -d @body.json {}</code>.</p>",
            esc(&service.host),
            esc(&service.url()),
        ));
        return layout(base, &format!("Service {}", service.name), &body, None);
    }
    body.push_str(&format!(
        "<h2>Score</h2><form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <textarea name=\"body\" rows=\"6\" cols=\"80\" aria-label=\"JSON body\">{}</textarea><br>\
         <button type=\"submit\">POST /score</button></form>",
        esc(&href(base, "/service/score", &[("name", &service.name)])),
        esc(ui.csrf_token()),
        esc(body_text),
    ));
    if let Some(answer) = answer {
        body.push_str(&answer);
    }
    layout(base, &format!("Service {}", service.name), &body, None)
}

/// `/service?name=`.
pub(crate) async fn service(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    let Some(name) = request.param("name") else {
        return Ok(not_found(base, "Which service? (?name=)"));
    };
    let service = ui.store().get_service(name).await?;
    Ok(Response::html(
        200,
        service_page(ui, &service, "{\"data\": []}", None),
    ))
}

/// `POST /service/score?name=` with form fields `csrf` and `body`.
pub(crate) async fn score(ui: &Ui, request: &Request) -> PageResult {
    let base = ui.base();
    if !ui.can_score() {
        let body = "<p class=\"error\">This page does not score services; score them on the machine that deployed them.</p>";
        return Ok(Response::html(403, layout(base, "Forbidden", body, None)));
    }
    if !request
        .field("csrf")
        .is_some_and(|token| crate::html::same_secret(token, ui.csrf_token()))
    {
        let body = "<p class=\"error\">The form's token is missing or stale; reload the service page and send again.</p>";
        return Ok(Response::html(403, layout(base, "Forbidden", body, None)));
    }
    let Some(name) = request.param("name") else {
        return Ok(not_found(base, "Which service? (?name=)"));
    };
    // Read the record, then let go of the workspace before waiting on the service.
    let service = ui.store().get_service(name).await?;
    let text = request.field("body").unwrap_or("");
    let answer = if text.len() > MAX_BODY {
        format!(
            "<p class=\"error\">The body is larger than {} KiB.</p>",
            MAX_BODY >> 10
        )
    } else if let Err(error) = serde_json::from_str::<serde_json::Value>(text) {
        format!(
            "<p class=\"error\">The body is not JSON: {}</p>",
            esc(&error.to_string())
        )
    } else {
        let timeout =
            Duration::from_millis(service.config.timeout_ms).saturating_add(Duration::from_secs(5));
        let port = service.port;
        let sent = text.as_bytes().to_vec();
        let answered = tokio::task::spawn_blocking(move || post_score(port, &sent, timeout))
            .await
            .unwrap_or_else(|error| Err(std::io::Error::other(error.to_string())));
        match answered {
            Ok((status_line, answer)) => format!(
                "<h2>Answer</h2><p>{}</p><pre class=\"answer\">{}</pre>",
                code(&status_line),
                esc(&String::from_utf8_lossy(&answer))
            ),
            Err(error) => format!(
                "<p class=\"error\">The service did not answer: {}</p>",
                esc(&error.to_string())
            ),
        }
    };
    Ok(Response::html(
        200,
        service_page(ui, &service, text, Some(answer)),
    ))
}

/// `POST /score` to `127.0.0.1:port`; returns the status line and the body.
fn post_score(port: u16, body: &[u8], timeout: Duration) -> std::io::Result<(String, Vec<u8>)> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let head = format!(
        "POST /score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream
        .take(MAX_BODY as u64 + 16 * 1024)
        .read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP response"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status_line = head.lines().next().unwrap_or("").to_string();
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let raw = &response[split + 4..];
    let body = if chunked { dechunk(raw) } else { raw.to_vec() };
    Ok((status_line, body))
}

/// The body of a `Transfer-Encoding: chunked` response (what arrived of it).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        raw = &raw[line_end + 2..];
        if size == 0 || raw.len() < size {
            out.extend_from_slice(&raw[..size.min(raw.len())]);
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
    }
}
