//! Server and workspace URLs: `http(s)://host[:port][/prefix]` for a server,
//! `.../w/{workspace}` for one of its workspaces.

use url::Url;

use crate::ClientError;

/// Where a server (and maybe one of its workspaces) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// The server's root, ending in `/`.
    pub(crate) server: Url,
    pub(crate) workspace: Option<String>,
}

impl Location {
    pub(crate) fn parse(text: &str) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let url = Url::parse(text.trim()).map_err(|_| invalid("it is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("a server URL starts with `http://` or `https://`"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "credentials do not belong in the URL; use `strata login` or `STRATA_TOKEN`",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a server URL has no query or fragment"));
        }
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        let (prefix, workspace) = match segments.iter().rposition(|s| s == "w") {
            Some(at) if at + 2 == segments.len() => {
                let name = percent_decode(&segments[at + 1]);
                (&segments[..at], Some(name))
            }
            Some(at) if at + 1 == segments.len() => {
                return Err(invalid("the URL ends in `/w/` without a workspace name"));
            }
            _ => (&segments[..], None),
        };
        let mut server = url.clone();
        let path = if prefix.is_empty() {
            "/".to_string()
        } else {
            format!("/{}/", prefix.join("/"))
        };
        server.set_path(&path);
        Ok(Self { server, workspace })
    }

    /// The server's root without the trailing `/`, as credentials are keyed.
    pub(crate) fn server_key(&self) -> String {
        self.server.as_str().trim_end_matches('/').to_string()
    }

    /// `{server}/api/v1/` followed by `segments`, each escaped.
    pub(crate) fn api(&self, segments: &[&str]) -> Url {
        let mut url = self.server.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| text.to_string(), |(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_urls_split_into_server_and_workspace() {
        let location = Location::parse("https://strata.example.com:8443/w/team").unwrap();
        assert_eq!(location.server.as_str(), "https://strata.example.com:8443/");
        assert_eq!(location.workspace.as_deref(), Some("team"));
        assert_eq!(
            location
                .api(&["workspaces", "team", "blobs:missing"])
                .as_str(),
            "https://strata.example.com:8443/api/v1/workspaces/team/blobs:missing"
        );
        let behind = Location::parse("http://host/strata/w/ml-team/").unwrap();
        assert_eq!(behind.server_key(), "http://host/strata");
        assert_eq!(behind.workspace.as_deref(), Some("ml-team"));
        let server = Location::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(server.workspace, None);
        assert_eq!(
            server.api(&["environments", "a b"]).as_str(),
            "http://127.0.0.1:9000/api/v1/environments/a%20b"
        );
        assert!(Location::parse("ftp://host/w/x").is_err());
        assert!(Location::parse("https://user:secret@host/w/x").is_err());
        assert!(Location::parse("https://host/w/").is_err());
        assert!(Location::parse("https://host/w/x?token=1").is_err());
    }
}
