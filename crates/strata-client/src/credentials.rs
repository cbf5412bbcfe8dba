//! Saved tokens: `$XDG_CONFIG_HOME/strata/credentials.toml` (else `~/.config/...`), mode
//! 0600, written atomically, one token per server URL; `STRATA_TOKEN` overrides them.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_store::store::{Principal, is_well_formed};

use crate::location::Location;
use crate::remote::http_client;
use crate::{ClientError, Token};

/// The variable whose token wins over saved ones.
pub const TOKEN_VARIABLE: &str = "STRATA_TOKEN";

/// Tokens by server URL.
#[derive(Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    servers: BTreeMap<String, String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("servers", &self.servers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Where credentials are kept.
pub fn credentials_path() -> Result<PathBuf, ClientError> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })
        .ok_or(ClientError::NoConfigDir)?;
    Ok(config.join("strata").join("credentials.toml"))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Credentials {
    /// The saved credentials; none when the file does not exist.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        match fs_err::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|source| ClientError::Parse {
                path: path.to_path_buf(),
                source,
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(io(path)(error)),
        }
    }

    /// Writes them (mode 0600) through a temporary file renamed over the old one.
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        use std::os::unix::fs::PermissionsExt as _;
        let text = toml::to_string(self).map_err(|source| ClientError::Serialize {
            path: path.to_path_buf(),
            source,
        })?;
        let parent = path.parent().unwrap_or(Path::new("."));
        fs_err::create_dir_all(parent).map_err(io(parent))?;
        // A new temporary file is readable by its owner only (0600) from its creation.
        let mut staged = tempfile::NamedTempFile::new_in(parent).map_err(io(parent))?;
        staged
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io(staged.path()))?;
        staged
            .write_all(text.as_bytes())
            .map_err(io(staged.path()))?;
        staged.as_file().sync_all().map_err(io(staged.path()))?;
        staged.persist(path).map_err(|e| io(path)(e.error))?;
        Ok(())
    }

    /// The token saved for the server of `url` (a server or workspace URL): the entry whose
    /// URL is the longest prefix of it.
    pub fn token_for(&self, url: &str) -> Result<Option<Token>, ClientError> {
        let location = Location::parse(url)?;
        let wanted = match &location.workspace {
            Some(ws) => format!("{}/w/{ws}", location.server_key()),
            None => location.server_key(),
        };
        Ok(self
            .servers
            .iter()
            .filter(|(key, _)| {
                wanted == **key
                    || wanted
                        .strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|(key, _)| key.len())
            .map(|(_, token)| Token::new(token.as_str())))
    }

    /// Saves `token` for the server of `url`.
    pub fn set(&mut self, url: &str, token: &Token) -> Result<(), ClientError> {
        let key = Location::parse(url)?.server_key();
        self.servers.insert(key, token.expose().to_string());
        Ok(())
    }

    /// Forgets the token of the server of `url`; whether there was one.
    pub fn remove(&mut self, url: &str) -> Result<bool, ClientError> {
        let key = Location::parse(url)?.server_key();
        Ok(self.servers.remove(&key).is_some())
    }
}

/// The token for `url`: `STRATA_TOKEN` when set, else the saved one.
pub fn token_for(url: &str) -> Result<Option<Token>, ClientError> {
    if let Some(token) = std::env::var(TOKEN_VARIABLE)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(Some(Token::new(token)));
    }
    Credentials::load(&credentials_path()?)?.token_for(url)
}

/// Checks `token` against the server of `url` (`GET /api/v1/me`) and saves it in the
/// credentials file; answers whom it belongs to.
pub async fn login(url: &str, token: &Token) -> Result<Principal, ClientError> {
    login_to(&credentials_path()?, url, token).await
}

/// As [`login`], with the credentials file at `path`.
pub async fn login_to(path: &Path, url: &str, token: &Token) -> Result<Principal, ClientError> {
    if !is_well_formed(token.expose()) {
        return Err(ClientError::MalformedToken);
    }
    let location = Location::parse(url)?;
    let server = location.server_key();
    let response = http_client()?
        .get(location.api(&["me"]))
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(|e| crate::errors::from_transport(&e, &server))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(crate::errors::from_response(status, &body, &server).into());
    }
    let principal: Principal =
        serde_json::from_slice(&body).map_err(|e| strata_store::StoreError::Backend {
            what: format!("Reading the answer of `{server}`"),
            message: e.to_string(),
        })?;
    let mut credentials = Credentials::load(path)?;
    credentials.set(url, token)?;
    credentials.save(path)?;
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_private_atomic_and_found_by_prefix() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata/credentials.toml");
        let mut credentials = Credentials::load(&path).unwrap();
        credentials
            .set("https://strata.example.com/", &Token::new("strata_pat_a"))
            .unwrap();
        credentials
            .set(
                "https://strata.example.com/team-b/w/x",
                &Token::new("strata_pat_b"),
            )
            .unwrap();
        credentials.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = Credentials::load(&path).unwrap();
        assert_eq!(loaded, credentials);
        let token = |url| {
            loaded
                .token_for(url)
                .unwrap()
                .map(|t| t.expose().to_string())
        };
        assert_eq!(
            token("https://strata.example.com/w/ml").as_deref(),
            Some("strata_pat_a")
        );
        assert_eq!(
            token("https://strata.example.com/team-b/w/y").as_deref(),
            Some("strata_pat_b")
        );
        assert_eq!(token("https://other.example.com/w/ml"), None);
        assert!(!format!("{loaded:?}").contains("strata_pat_"));
        std::fs::write(&path, "servers = 3").unwrap();
        assert!(matches!(
            Credentials::load(&path),
            Err(ClientError::Parse { .. })
        ));
    }
}
