//! Where tokens come from: `STRATA_TOKEN` over the credentials file, found through
//! `XDG_CONFIG_HOME` (else `HOME`). The checks run in a child process of this test binary, whose
//! environment the parent sets (changing one's own environment is not thread-safe).

use std::process::Command;

use strata_client::{Credentials, Token, credentials_path, token_for};

const CHILD: &str = "STRATA_CLIENT_TEST_CHILD";

/// The checks, in the child.
fn child() {
    let expected_path = std::path::PathBuf::from(std::env::var("XDG_CONFIG_HOME").unwrap())
        .join("strata/credentials.toml");
    assert_eq!(credentials_path().unwrap(), expected_path);
    let found = token_for("https://strata.example.com/w/team").unwrap();
    let expected = std::env::var("EXPECTED_TOKEN").unwrap();
    assert_eq!(found.map(|t| t.expose().to_string()), Some(expected));
}

fn run_child(config: &std::path::Path, strata_token: Option<&str>, expected: &str) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "tokens_come_from_the_environment_or_the_credentials_file",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("XDG_CONFIG_HOME", config)
        .env("EXPECTED_TOKEN", expected)
        .env_remove("STRATA_TOKEN");
    if let Some(token) = strata_token {
        command.env("STRATA_TOKEN", token);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 passed"),
        "the child ran the check: {stdout}"
    );
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn tokens_come_from_the_environment_or_the_credentials_file() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let config = tempfile::tempdir().unwrap();
    let mut credentials = Credentials::default();
    credentials
        .set(
            "https://strata.example.com",
            &Token::new("strata_pat_saved"),
        )
        .unwrap();
    credentials
        .save(&config.path().join("strata/credentials.toml"))
        .unwrap();
    run_child(config.path(), None, "strata_pat_saved");
    run_child(
        config.path(),
        Some("strata_pat_from_env"),
        "strata_pat_from_env",
    );
}
