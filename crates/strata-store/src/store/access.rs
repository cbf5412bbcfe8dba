//! Who may do what in a shared workspace: three roles per workspace and a server admin.

use serde::{Deserialize, Serialize};

/// A member's role in one workspace, from least to most.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Lists, gets, diffs and downloads.
    Reader,
    /// Also registers environments and writes locks, builds, runs, models and services
    /// (Azure ML's *AzureML Data Scientist*).
    Contributor,
    /// Also manages the workspace's members and tokens and reads its whole audit log.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Contributor => "contributor",
            Self::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "reader" => Some(Self::Reader),
            "contributor" => Some(Self::Contributor),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a request can do to a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Any list, get or download.
    Read,
    /// Register environments; write locks, builds, wheels, blobs, runs, metrics, logs,
    /// models and services.
    Write,
    /// Manage members and tokens, attach and detach compute targets, read the whole audit
    /// log.
    Manage,
}

/// The one table of who may do what: every endpoint asks it.
pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::Read => true,
        Action::Write => role >= Role::Contributor,
        Action::Manage => role >= Role::Owner,
    }
}

/// Who is making a change, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub user: String,
    /// The token used, when the change came through the server.
    pub token_id: Option<String>,
    /// The request that made the change, to match audit rows with request logs.
    pub request_id: Option<String>,
}

impl Actor {
    /// A change made on this machine, outside any server (the local user).
    pub fn local() -> Self {
        Self {
            user: std::env::var("USER").unwrap_or_else(|_| "local".to_string()),
            token_id: None,
            request_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grow_in_rights() {
        for action in [Action::Read, Action::Write, Action::Manage] {
            assert!(allows(Role::Owner, action));
        }
        assert!(allows(Role::Reader, Action::Read));
        assert!(!allows(Role::Reader, Action::Write));
        assert!(allows(Role::Contributor, Action::Write));
        assert!(!allows(Role::Contributor, Action::Manage));
        assert_eq!(Role::parse("contributor"), Some(Role::Contributor));
        assert_eq!(Role::parse("admin"), None);
    }
}
