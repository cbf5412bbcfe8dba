//! The workspace pages on a team server, in headless Chromium: the populated workspace of the
//! `strata ui` test pushed to a server on PostgreSQL, signed into with a reader's token. The
//! sign-in, its cookie, the session's end (sign-out, a revoked token) and the role checks go
//! through raw HTTP; the pages through a loopback proxy that adds the session cookie, since a
//! headless Chromium without scripts cannot fill in a form.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};

use crate::server::Team;
use crate::ui::{EXPERIMENT, check_pages, chromium, fake_service, populate};

/// One HTTP/1.1 exchange, with an optional cookie: (status, lowercased head, body).
fn exchange(
    port: u16,
    method: &str,
    target: &str,
    form: Option<&str>,
    cookie: Option<&str>,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = form.unwrap_or("");
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The value a response sets for cookie `name`, and the whole `Set-Cookie` line.
fn set_cookie(head: &str, name: &str) -> Option<(String, String)> {
    head.lines()
        .filter_map(|line| line.strip_prefix("set-cookie: "))
        .find_map(|line| {
            let value = line.strip_prefix(&format!("{name}="))?;
            let value = value.split(';').next().unwrap_or("").to_string();
            Some((value, line.to_string()))
        })
}

fn location(head: &str) -> Option<&str> {
    head.lines()
        .find_map(|line| line.strip_prefix("location: "))
}

/// The hidden `csrf` field of a form.
fn form_token(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no form token in {page}"))
        .to_string()
}

/// Signs in to `workspace` with `token`: the status and head of the answer to the form.
fn sign_in(port: u16, workspace: &str, token: &str) -> (u16, String) {
    let login = format!("/w/{workspace}/login");
    let (status, head, page) = exchange(port, "GET", &login, None, None);
    assert_eq!(status, 200, "{page}");
    let (form_cookie, _) = set_cookie(&head, "strata_sign_in").expect("a sign-in cookie");
    assert_eq!(
        form_token(&page),
        form_cookie,
        "the form carries its cookie's token"
    );
    let body = format!("csrf={form_cookie}&token={token}");
    let (status, head, _) = exchange(
        port,
        "POST",
        &login,
        Some(&body),
        Some(&format!("strata_sign_in={form_cookie}")),
    );
    (status, head)
}

/// A loopback proxy to `upstream` that sends `cookie` with every request (one request per
/// connection); its port.
fn cookie_proxy(upstream: u16, cookie: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let cookie = cookie.clone();
            std::thread::spawn(move || {
                let _ = forward(client, upstream, &cookie);
            });
        }
    });
    port
}

fn forward(mut client: TcpStream, upstream: u16, cookie: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("cookie:") && !lower.starts_with("connection:") {
            head.push_str(&line);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    write!(
        server,
        "{head}Cookie: {cookie}\r\nConnection: close\r\n\r\n"
    )?;
    server.write_all(&body)?;
    std::io::copy(&mut server, &mut client)?;
    Ok(())
}

#[test]
fn server_pages_sign_in_with_a_token_and_keep_to_the_role() {
    let Some(chromium) = chromium() else { return };
    let Some(team) = Team::new("pages") else {
        return;
    };
    let context = &team.context;
    let port: u16 = team
        .server
        .url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // The `strata ui` test's workspace, pushed to the server by a contributor.
    let local = crate::common::TestContext::new();
    populate(&local, fake_service());
    let mut push = local.command();
    push.env("STRATA_TOKEN", &team.alice)
        .args(["workspace", "push", &team.server.url]);
    let pushed = local.output(&mut push);
    assert_eq!(pushed.code, 0, "{pushed}");

    // A second workspace, and a reader of only that one.
    context.ok(&[
        "server",
        "workspace",
        "create",
        "other",
        "--database",
        &team.database,
    ]);
    let carol = context.json(&[
        "--workspace",
        "other",
        "server",
        "token",
        "create",
        "--database",
        &team.database,
        "--user",
        "carol",
        "--role",
        "reader",
        "--json",
    ])["token"]
        .as_str()
        .unwrap()
        .to_string();

    // `strata ui` on a server workspace points at the server's pages.
    let local_ui = context.run(&["--workspace", &team.server.url, "ui"]);
    assert_eq!(local_ui.code, 1, "{local_ui}");
    assert!(
        local_ui.stderr.contains(&format!("{}/", team.server.url)),
        "{local_ui}"
    );

    // Without a session every page sends the browser to sign in; the stylesheet is public.
    let (status, head, _) = exchange(port, "GET", "/w/team/environments", None, None);
    assert_eq!((status, location(&head)), (303, Some("/w/team/login")));
    let (status, _, _) = exchange(port, "GET", "/w/team/static/style.css", None, None);
    assert_eq!(status, 200);
    let (status, head, _) = exchange(port, "GET", "/w/team", None, None);
    assert_eq!((status, location(&head)), (303, Some("/w/team/")));

    // The sign-in form only takes a post from the browser that loaded it, and only a valid
    // token of the workspace.
    let (status, _, _) = exchange(
        port,
        "POST",
        "/w/team/login",
        Some(&format!("csrf=forged&token={}", team.bob)),
        None,
    );
    assert_eq!(status, 403, "a post without the form's cookie");
    let (status, _) = sign_in(port, "team", "not-a-token");
    assert_eq!(status, 401);
    let (status, _) = sign_in(port, "team", &carol);
    assert_eq!(status, 401, "carol reads only `other`");
    let (status, head) = sign_in(port, "team", &team.bob);
    assert_eq!((status, location(&head)), (303, Some("/w/team/")), "{head}");
    let (session, line) = set_cookie(&head, "strata_session").expect("a session cookie");
    assert!(
        !head.contains(&team.bob.to_ascii_lowercase()),
        "the token is not echoed"
    );
    assert!(
        !session.contains("strata_pat_"),
        "the cookie is not the token"
    );
    for attribute in ["httponly", "samesite=strict", "path=/w/team/"] {
        assert!(line.contains(attribute), "{line}");
    }
    let bob = format!("strata_session={session}");

    // Bob's session opens team's pages, not other's.
    let (status, _, home) = exchange(port, "GET", "/w/team/", None, Some(&bob));
    assert_eq!(status, 200, "{home}");
    assert!(
        home.contains("Signed in as <strong>bob</strong> (reader)"),
        "{home}"
    );
    let (status, head, _) = exchange(port, "GET", "/w/other/", None, Some(&bob));
    assert_eq!((status, location(&head)), (303, Some("/w/other/login")));
    let (status, _) = sign_in(port, "other", &team.bob);
    assert_eq!(status, 401, "bob's token is team's only");
    let (status, head) = sign_in(port, "other", &carol);
    assert_eq!(status, 303, "{head}");

    // Every page, in Chromium, as bob.
    let (_, _, version_page) = exchange(
        port,
        "GET",
        "/w/team/environment/version?name=trainenv&version=2",
        None,
        Some(&bob),
    );
    let build_log = version_page
        .split("href=\"/w/team/build-log?id=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|id| format!("/w/team/build-log?id={id}"))
        .unwrap_or_else(|| panic!("no build log link in {version_page}"));
    let proxy = format!("127.0.0.1:{}", cookie_proxy(port, bob.clone()));
    let experiment = "exp%C3%A9rience-%CE%B1";
    let pages: Vec<(&str, String, &str)> = vec![
        ("server-home", "/w/team/".into(), "Signed in as"),
        (
            "server-environments",
            "/w/team/environments".into(),
            "trainenv",
        ),
        (
            "server-environment-version",
            "/w/team/environment/version?name=trainenv&version=2".into(),
            "keeps no image records",
        ),
        ("server-build-log", build_log, "Installed numpy 2.0.1"),
        (
            "server-diff",
            "/w/team/diff?a=trainenv%3A1&b=trainenv%3A2".into(),
            "2.0.1",
        ),
        (
            "server-experiments",
            "/w/team/experiments".into(),
            EXPERIMENT,
        ),
        (
            "server-runs",
            format!("/w/team/runs?experiment={experiment}&sort=metric%3Aaccuracy&order=asc"),
            "good_run",
        ),
        (
            "server-run",
            "/w/team/run?id=good_run".into(),
            "résumé-模型.txt",
        ),
        (
            "server-run-10000-points",
            "/w/team/run?id=big_run".into(),
            "(10000 points)",
        ),
        (
            "server-compare",
            "/w/team/compare?run=good_run&run=second_run".into(),
            "pandas",
        ),
        (
            "server-model-lineage",
            "/w/team/model/version?name=quickstart-model&version=1".into(),
            "class=\"lineage\"",
        ),
        (
            "server-service",
            "/w/team/service?name=quickstart-svc".into(),
            "score it from there",
        ),
    ];
    let loaded = check_pages(&chromium, &proxy, &pages);
    let run = &loaded
        .iter()
        .find(|(n, _)| n == "server-run")
        .unwrap()
        .1
        .dom;
    assert!(
        run.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the tag is text"
    );
    let (status, _, body) = exchange(
        port,
        "GET",
        "/w/team/run/file?id=good_run&tree=outputs&path=model.pkl",
        None,
        Some(&bob),
    );
    assert_eq!(
        (status, body.as_str()),
        (200, "pickled"),
        "downloads from the blobs"
    );
    let (status, _, _) = exchange(
        port,
        "POST",
        "/w/team/service/score?name=quickstart-svc",
        Some(&format!("csrf={}&body=%7B%7D", form_token(&home))),
        Some(&bob),
    );
    assert_eq!(status, 403, "the server does not send requests to services");

    // Signing out takes the form's token and ends the session.
    let (status, _, _) = exchange(
        port,
        "POST",
        "/w/team/logout",
        Some("csrf=forged"),
        Some(&bob),
    );
    assert_eq!(status, 403);
    let (status, head, _) = exchange(
        port,
        "POST",
        "/w/team/logout",
        Some(&format!("csrf={}", form_token(&home))),
        Some(&bob),
    );
    assert_eq!((status, location(&head)), (303, Some("/w/team/login")));
    let (status, head, _) = exchange(port, "GET", "/w/team/", None, Some(&bob));
    assert_eq!(
        (status, location(&head)),
        (303, Some("/w/team/login")),
        "signed out"
    );

    // Revoking the token ends its sessions.
    let (_, head) = sign_in(port, "team", &team.bob);
    let again = format!(
        "strata_session={}",
        set_cookie(&head, "strata_session").unwrap().0
    );
    let (status, _, _) = exchange(port, "GET", "/w/team/", None, Some(&again));
    assert_eq!(status, 200);
    let tokens = context.json(&[
        "server",
        "token",
        "list",
        "--database",
        &team.database,
        "--json",
    ]);
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "bob")
        .and_then(|t| t["id"].as_str())
        .unwrap()
        .to_string();
    context.ok(&[
        "server",
        "token",
        "revoke",
        "--database",
        &team.database,
        &id,
    ]);
    let (status, head, _) = exchange(port, "GET", "/w/team/", None, Some(&again));
    assert_eq!(
        (status, location(&head)),
        (303, Some("/w/team/login")),
        "revoked"
    );
}
