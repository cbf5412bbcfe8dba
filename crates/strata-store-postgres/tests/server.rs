//! What only a server keeps: tokens, roles, membership-filtered lists and the audit log.

mod common;

use strata_store::store::{
    AuditQuery, NewToken, Role, ServerStore, collect_all, generate_token, token_hash,
};
use strata_store::{BuildRecord, RegisterOptions, StoreError};
use strata_store_postgres::PostgresStore;

fn new_token(user: &str, workspace: Option<&str>, role: Option<Role>) -> NewToken {
    NewToken {
        user: user.to_string(),
        workspace: workspace.map(str::to_string),
        role,
        admin: false,
        description: Some("test token".to_string()),
        expires_at: None,
    }
}

fn definition(name: &str, image: &str, version: Option<&str>) -> strata_spec::Environment {
    let mut environment = strata_spec::Environment::from_docker_image(name, image, None).0;
    environment.version = version.map(str::to_string);
    environment
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_authenticate_until_they_expire_or_are_revoked() {
    let Some(store) = common::migrated_store("tokens").await else {
        return;
    };
    let admin = common::actor("admin");
    store
        .create_workspace("team", &admin)
        .await
        .expect("a workspace");

    let token = generate_token().expect("a token");
    let hash = token_hash(&token);
    let record = store
        .create_token(
            &hash,
            &new_token("alice", Some("team"), Some(Role::Contributor)),
            &admin,
        )
        .await
        .expect("creating a token");
    assert_eq!(record.user, "alice");
    assert_eq!(record.workspace.as_deref(), Some("team"));
    assert_eq!(record.role, Some(Role::Contributor));
    assert_eq!(record.last_used_at, None, "a new token was never used");
    assert_eq!(
        store
            .authenticate(&token_hash("strata_pat_unknown"))
            .await
            .expect("lookup"),
        None
    );

    let principal = store
        .authenticate(&hash)
        .await
        .expect("authenticating")
        .expect("a valid token authenticates");
    assert_eq!(principal.user, "alice");
    assert_eq!(principal.token_id, record.id);
    assert_eq!(principal.workspace.as_deref(), Some("team"));
    assert_eq!(principal.max_role, Some(Role::Contributor));
    assert!(!principal.admin);
    let listed = store
        .list_tokens(Some("team"))
        .await
        .expect("listing tokens");
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].last_used_at.is_some(),
        "authenticating records the use"
    );
    let stored_text = format!("{listed:?}");
    assert!(
        !stored_text.contains(&token),
        "a listed token never shows the token"
    );

    // Creating the token made alice a contributor of `team`.
    assert_eq!(
        store.role_of("alice", "team").await.expect("role"),
        Some(Role::Contributor)
    );

    let expired_token = generate_token().expect("a token");
    let mut expired = new_token("bob", None, None);
    expired.expires_at = Some(strata_store::now_millis() - 1_000);
    store
        .create_token(&token_hash(&expired_token), &expired, &admin)
        .await
        .expect("creating an expired token");
    assert_eq!(
        store
            .authenticate(&token_hash(&expired_token))
            .await
            .expect("lookup"),
        None,
        "an expired token does not authenticate"
    );
    let mut later = new_token("bob", None, None);
    later.expires_at = Some(strata_store::now_millis() + 60_000);
    let later_token = generate_token().expect("a token");
    store
        .create_token(&token_hash(&later_token), &later, &admin)
        .await
        .expect("creating a token that expires later");
    assert!(
        store
            .authenticate(&token_hash(&later_token))
            .await
            .expect("lookup")
            .is_some()
    );

    let revoked = store
        .revoke_token(&record.id, &admin)
        .await
        .expect("revoking");
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        store.authenticate(&hash).await.expect("lookup"),
        None,
        "a revoked token does not authenticate"
    );
    let again = store
        .revoke_token(&record.id, &admin)
        .await
        .expect("revoking again");
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "revoking twice keeps the first time"
    );
    let unknown = store
        .revoke_token("tok_999999", &admin)
        .await
        .expect_err("an unknown token");
    assert!(matches!(unknown, StoreError::NotFound { .. }), "{unknown}");
    let duplicate = store
        .create_token(&hash, &new_token("alice", None, None), &admin)
        .await
        .expect_err("the same token twice");
    assert!(!duplicate.to_string().contains(&token));
    let all = store.list_tokens(None).await.expect("every token");
    assert_eq!(all.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_and_lists_follow_membership() {
    let Some(store) = common::migrated_store("membership").await else {
        return;
    };
    let admin = common::actor("admin");
    for name in ["alpha", "beta", "gamma"] {
        store
            .create_workspace(name, &admin)
            .await
            .expect("a workspace");
    }
    let exists = store
        .create_workspace("alpha", &admin)
        .await
        .expect_err("a second workspace of one name");
    assert!(
        matches!(exists, StoreError::WorkspaceExists { .. }),
        "{exists}"
    );
    store
        .set_member("alpha", "carol", Some(Role::Reader), &admin)
        .await
        .expect("adding a member");
    store
        .set_member("gamma", "carol", Some(Role::Owner), &admin)
        .await
        .expect("adding a member");
    store
        .set_member("beta", "dave", Some(Role::Contributor), &admin)
        .await
        .expect("adding a member");
    let carol: Vec<(String, Option<Role>)> = store
        .list_workspaces(Some("carol"))
        .await
        .expect("carol's workspaces")
        .into_iter()
        .map(|w| (w.name, w.role))
        .collect();
    assert_eq!(
        carol,
        [
            ("alpha".to_string(), Some(Role::Reader)),
            ("gamma".to_string(), Some(Role::Owner))
        ],
        "a user lists only the workspaces they are a member of"
    );
    assert!(
        store
            .list_workspaces(Some("nobody"))
            .await
            .expect("a stranger's")
            .is_empty()
    );
    let all: Vec<String> = store
        .list_workspaces(None)
        .await
        .expect("every workspace")
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(all, ["alpha", "beta", "gamma"]);

    assert_eq!(
        store.role_of("carol", "alpha").await.expect("role"),
        Some(Role::Reader)
    );
    assert_eq!(store.role_of("carol", "beta").await.expect("role"), None);
    assert_eq!(store.role_of("carol", "no-such").await.expect("role"), None);
    store
        .set_member("alpha", "carol", Some(Role::Contributor), &admin)
        .await
        .expect("changing a role");
    assert_eq!(
        store.role_of("carol", "alpha").await.expect("role"),
        Some(Role::Contributor)
    );
    store
        .set_member("alpha", "carol", None, &admin)
        .await
        .expect("removing a member");
    assert_eq!(store.role_of("carol", "alpha").await.expect("role"), None);
    let members = store.list_members("gamma").await.expect("members");
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].user.as_str(), members[0].role),
        ("carol", Role::Owner)
    );
    let missing = store
        .set_member("no-such", "carol", Some(Role::Reader), &admin)
        .await
        .expect_err("a member of a workspace that does not exist");
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
    let unknown = store.workspace("no-such", admin.clone()).await.err();
    assert!(
        matches!(unknown, Some(StoreError::NotFound { .. })),
        "an unknown workspace is not found: {unknown:?}"
    );

    // Workspaces keep their records apart.
    let alpha = store
        .workspace("alpha", admin.clone())
        .await
        .expect("alpha");
    let beta = store.workspace("beta", admin.clone()).await.expect("beta");
    alpha
        .register_environment(
            definition("shared-name", "img:a", None),
            RegisterOptions::default(),
        )
        .await
        .expect("registering in alpha");
    let in_beta = beta
        .list_environments(&Default::default(), None, 100)
        .await
        .expect("listing beta");
    let names: Vec<&str> = in_beta.items.iter().map(|e| e.name.as_str()).collect();
    assert!(
        !names.contains(&"shared-name") && in_beta.items.iter().all(|e| e.curated),
        "another workspace's environments are not listed: {names:?}"
    );
    let in_alpha = alpha
        .list_environments(&Default::default(), None, 100)
        .await
        .expect("listing alpha");
    assert!(in_alpha.items.iter().any(|e| e.name == "shared-name"));
    assert!(beta.get_environment("shared-name", None).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_are_audited_in_their_transaction() {
    let Some(store) = common::migrated_store("audit").await else {
        return;
    };
    let admin = common::actor("admin");
    store
        .create_workspace("audited", &admin)
        .await
        .expect("a workspace");
    let erin = common::actor("erin");
    let records = store
        .workspace("audited", erin.clone())
        .await
        .expect("the workspace");
    let before = common::audit_count(&store, "audited").await;
    assert_eq!(before, 1, "creating the workspace is audited");

    records
        .register_environment(
            definition("audited-env", "img:1", Some("v1")),
            RegisterOptions::default(),
        )
        .await
        .expect("registering");
    let page = store
        .audit(
            &AuditQuery {
                workspace: Some("audited".to_string()),
                user: None,
            },
            None,
            1,
        )
        .await
        .expect("the audit log");
    let event = &page.items[0];
    assert_eq!(event.action, "environment.register");
    assert_eq!(event.resource, "environments/audited-env/versions/v1");
    assert_eq!(event.user, "erin");
    assert_eq!(event.token_id, erin.token_id);
    assert_eq!(event.request_id, erin.request_id);
    assert_eq!(event.workspace.as_deref(), Some("audited"));
    assert!(
        page.next_cursor.is_some(),
        "older events are on the next page"
    );

    // Refused changes leave no row: a version conflict, a missing blob, a bad definition.
    let after_one = common::audit_count(&store, "audited").await;
    assert_eq!(after_one, 2);
    let conflict = records
        .register_environment(
            definition("audited-env", "img:2", Some("v1")),
            RegisterOptions::default(),
        )
        .await
        .expect_err("a conflicting version");
    assert!(
        matches!(conflict, StoreError::VersionConflict { .. }),
        "{conflict}"
    );
    let again = records
        .register_environment(
            definition("audited-env", "img:1", Some("v1")),
            RegisterOptions::default(),
        )
        .await
        .expect("an identical registration");
    assert!(!again.created);
    let missing_blob = records
        .record_build(&BuildRecord {
            name: "audited-env".to_string(),
            version: strata_spec::EnvironmentVersion::parse("v1").expect("a version"),
            lock_hash: None,
            status: "failed".to_string(),
            prefix: None,
            log_digest: Some("0".repeat(64)),
            error: None,
            started_at: 1,
            finished_at: 2,
        })
        .await
        .expect_err("a build whose log is not granted");
    assert!(
        matches!(missing_blob, StoreError::MissingBlob { .. }),
        "{missing_blob}"
    );
    let invalid = records
        .register_environment(
            definition("Strata-reserved", "img:1", None),
            RegisterOptions::default(),
        )
        .await;
    assert!(invalid.is_err(), "a reserved name is refused");
    assert_eq!(
        common::audit_count(&store, "audited").await,
        after_one,
        "refused and unchanged registrations write no audit row"
    );

    // Other users see their own events only when asked that way.
    let mine = collect_all(|cursor| {
        let store = &store;
        async move {
            store
                .audit(
                    &AuditQuery {
                        workspace: None,
                        user: Some("erin".to_string()),
                    },
                    cursor.as_deref(),
                    1,
                )
                .await
        }
    })
    .await
    .expect("erin's events");
    assert_eq!(mine.len(), 1);
    assert!(mine.iter().all(|e| e.user == "erin"));
    let ids: Vec<i64> = collect_all(|cursor| {
        let store = &store;
        async move {
            store
                .audit(&AuditQuery::default(), cursor.as_deref(), 1)
                .await
        }
    })
    .await
    .expect("every event")
    .into_iter()
    .map(|e| e.id)
    .collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, once each: {ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_errors_never_show_the_password() {
    // Port 1 on loopback refuses connections: no server needed.
    let error = PostgresStore::connect("postgres://strata:s3cret-pw@127.0.0.1:1/strata")
        .await
        .expect_err("nothing listens on port 1");
    let text = format!("{error} {error:?}");
    assert!(matches!(error, StoreError::Unavailable { .. }), "{text}");
    assert!(!text.contains("s3cret-pw"), "the password leaked: {text}");
    assert!(
        text.contains("127.0.0.1:1"),
        "the message says where: {text}"
    );
}
