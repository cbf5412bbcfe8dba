//! `strata login` checks a token before saving it; tokens are listed and revoked.

use std::io::Write as _;
use std::process::Stdio;

use super::Team;

#[test]
fn tokens_are_saved_by_login_checked_and_revocable() {
    let Some(team) = Team::new("tokens") else {
        return;
    };
    let context = &team.context;
    let config = context.path().join("dana-config");
    let login = |token: &str| {
        let mut command = context.command();
        command
            .env("XDG_CONFIG_HOME", &config)
            .env_remove("STRATA_TOKEN")
            .args(["login", &team.server.url, "--token-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(token.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let wrong = login("strata_pat_wrong");
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    assert!(!config.join("strata/credentials.toml").exists());
    let saved = login(&team.alice);
    assert!(saved.status.success(), "{saved:?}");
    let file = config.join("strata/credentials.toml");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs_err::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The saved token works without STRATA_TOKEN.
    let mut list = context.command();
    list.env("XDG_CONFIG_HOME", &config)
        .env_remove("STRATA_TOKEN")
        .args(["--workspace", &team.server.url, "env", "list"]);
    let listed = context.output(&mut list);
    assert_eq!(listed.code, 0, "{listed}");
    assert!(
        listed.stdout.contains("Strata-Minimal") || listed.stdout.contains("NAME"),
        "{listed}"
    );

    // Listed by id, never shown again; revoked, it stops working at once.
    let tokens: serde_json::Value = context.json(&[
        "server",
        "token",
        "list",
        "--database",
        &team.database,
        "--json",
    ]);
    let text = tokens.to_string();
    assert!(
        !text.contains(&team.alice) && !text.contains(&team.bob),
        "{text}"
    );
    let bob_id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "bob")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    context.ok(&[
        "server",
        "token",
        "revoke",
        "--database",
        &team.database,
        &bob_id,
    ]);
    let revoked = team.run(&team.bob, "bob", &["env", "list"]);
    assert_eq!(revoked.code, 1, "{revoked}");
    assert!(
        !revoked.stderr.contains(&team.bob),
        "a token never appears in errors: {revoked}"
    );
}
