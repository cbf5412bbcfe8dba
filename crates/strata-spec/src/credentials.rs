//! Finding credentials in URLs, wherever a definition holds one: index and find-links options,
//! direct references, conda channels and packages, Spark repositories, R URLs, build contexts.
//!
//! A definition may only name a secret by reference (`${VARIABLE}`, expanded when the
//! environment is built), so nothing secret reaches a workspace, lock, image or log.

/// Query parameters that carry secrets (Azure SAS signatures, API keys, tokens).
const SECRET_QUERY_KEYS: &[&str] = &[
    "access_token",
    "api_key",
    "apikey",
    "auth",
    "key",
    "password",
    "secret",
    "sig",
    "token",
];

/// `text` with its credentials masked as `***`, if any URL in it carries one: userinfo
/// (`https://TOKEN@host`, `https://user:secret@host`), an anaconda.org token path
/// (`/t/<token>/`, refused even as a reference: conda channels are not expanded), or a secret
/// query parameter (`?token=...`, `&sig=...`). Parts that are only `${VARIABLE}` references
/// are not secrets. A user name alone is allowed for ssh
/// (`git+ssh://git@github.com/...`), where it is never a secret.
pub fn mask_url_credentials(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    let mut rest = text;
    while let Some(position) = rest.find("://") {
        let scheme_start = rest[..position]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let scheme = rest[scheme_start..position].to_ascii_lowercase();
        out.push_str(&rest[..position + 3]);
        let after = &rest[position + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ','))
            .unwrap_or(after.len());
        let (masked, url_found) = mask_url(&scheme, &after[..end]);
        found |= url_found;
        out.push_str(&masked);
        rest = &after[end..];
    }
    out.push_str(rest);
    found.then_some(out)
}

/// One URL after its `scheme://`, masked.
fn mask_url(scheme: &str, url: &str) -> (String, bool) {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, tail) = url.split_at(authority_end);
    let mut found = false;
    let mut out = String::with_capacity(url.len());
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if is_secret_userinfo(scheme, userinfo) => {
            found = true;
            out.push_str("***@");
            out.push_str(host);
        }
        _ => out.push_str(authority),
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    // anaconda.org (and Anaconda Server) put tokens in the path: `/t/<token>/<channel>`. The
    // conda installer does not expand `${VARIABLE}`, so even a reference is refused there.
    let mut segments: Vec<String> = path.split('/').map(str::to_string).collect();
    if segments.len() > 2 && segments[1] == "t" && !segments[2].is_empty() {
        segments[2] = "***".to_string();
        found = true;
    }
    out.push_str(&segments.join("/"));
    if let Some(query) = query {
        out.push('?');
        let (query, fragment) = match query.split_once('#') {
            Some((query, fragment)) => (query, Some(fragment)),
            None => (query, None),
        };
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, value))
                    if SECRET_QUERY_KEYS.contains(&key.to_ascii_lowercase().as_str())
                        && !value.is_empty()
                        && !is_variable_reference(value) =>
                {
                    found = true;
                    format!("{key}=***")
                }
                _ => pair.to_string(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
    }
    (out, found)
}

fn is_secret_userinfo(scheme: &str, userinfo: &str) -> bool {
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    // `user:password`: the user name is no secret when the password is a reference.
    if !password.is_empty() {
        return !is_variable_reference(password);
    }
    // A user name is all ssh takes from a URL (`git+ssh://git@github.com/...`).
    if scheme == "ssh" || scheme.ends_with("+ssh") {
        return false;
    }
    // A lone part is a token (`https://ghp_...@github.com`).
    !user.is_empty() && !is_variable_reference(user)
}

/// `${VARIABLE}`, the whole of `text`: how a definition names a secret (registry passwords
/// and URL credentials alike), expanded only when the environment is built.
pub fn is_variable_reference(text: &str) -> bool {
    text.len() > 3
        && text.starts_with("${")
        && text.ends_with('}')
        && !text[2..text.len() - 1].contains(['$', '{', '}'])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #11, item 2: a token alone in a URL was kept in clear.
    #[test]
    fn credentials_in_urls_are_found_and_masked() {
        let masked = |text: &str| mask_url_credentials(text);
        assert_eq!(
            masked("--extra-index-url https://ghp_TOKEN@host/simple").as_deref(),
            Some("--extra-index-url https://***@host/simple")
        );
        assert_eq!(
            masked("pkg @ https://TOKEN@host/pkg-1.0.tar.gz").as_deref(),
            Some("pkg @ https://***@host/pkg-1.0.tar.gz")
        );
        assert_eq!(
            masked("--index-url=https://me:s3cret@pkgs.example.org/simple").as_deref(),
            Some("--index-url=https://***@pkgs.example.org/simple")
        );
        assert_eq!(
            masked("https://conda.anaconda.org/t/ab-12345/private").as_deref(),
            Some("https://conda.anaconda.org/t/***/private")
        );
        assert_eq!(
            masked("https://conda.anaconda.org/t/${CONDA_TOKEN}/private").as_deref(),
            Some("https://conda.anaconda.org/t/***/private")
        );
        assert_eq!(
            masked("https://conda.anaconda.org/t/ab-12345/private::numpy").as_deref(),
            Some("https://conda.anaconda.org/t/***/private::numpy")
        );
        assert_eq!(
            masked("https://acct.blob.core.windows.net/w/x-1.0-py3-none-any.whl?sv=2020&sig=abc%3D#sha256=1").as_deref(),
            Some("https://acct.blob.core.windows.net/w/x-1.0-py3-none-any.whl?sv=2020&sig=***#sha256=1")
        );
        assert_eq!(
            masked("git+https://oauth2:glpat-xyz@gitlab.com/g/p.git@v1#egg=p").as_deref(),
            Some("git+https://***@gitlab.com/g/p.git@v1#egg=p")
        );
        assert_eq!(
            masked("git+ssh://u:pw@host/r.git").as_deref(),
            Some("git+ssh://***@host/r.git")
        );
        for clean in [
            "numpy==1.26",
            "--index-url https://pkgs.example.org/simple",
            "--index-url https://me:${INDEX_PASSWORD}@pkgs.example.org/simple",
            "--extra-index-url https://${USER}:${TOKEN}@pkgs.example.org/simple",
            "--extra-index-url https://${TOKEN}@pkgs.example.org/simple",
            "https://host/a/t/b/c",
            "git+ssh://git@github.com/org/repo.git",
            "git+https://github.com/example/repo.git@v1.0#egg=repo",
            "strata://wheels/ab12/x-1.0-py3-none-any.whl",
            "conda-forge",
            "https://host/x.whl?sig=${SAS_SIGNATURE}",
        ] {
            assert_eq!(masked(clean), None, "{clean}");
        }
    }
}
