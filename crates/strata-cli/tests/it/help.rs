//! Every command explains itself with a one-line description and an example.

use crate::common::TestContext;

/// Every (sub)command path, from `--help` listings.
fn commands(context: &TestContext, path: &[String]) -> Vec<Vec<String>> {
    let mut args = path.to_vec();
    args.push("--help".to_string());
    let help = context.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut found = vec![path.to_vec()];
    let mut in_commands = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if line.trim().is_empty() || !line.starts_with("  ") {
                in_commands = false;
                continue;
            }
            // Wrapped descriptions are indented further than command names.
            if line.starts_with("   ") {
                continue;
            }
            let name = line.split_whitespace().next().unwrap_or_default();
            if name != "help" {
                let mut child = path.to_vec();
                child.push(name.to_string());
                found.extend(commands(context, &child));
            }
        }
    }
    found
}

#[test]
fn every_command_has_a_description_and_an_example() {
    let context = TestContext::bare();
    let all = commands(&context, &[]);
    assert!(all.len() > 30, "{all:?}");
    for path in all {
        let mut args = path.clone();
        args.push("--help".to_string());
        let help = context.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let first = help.lines().next().unwrap_or_default();
        assert!(
            !first.trim().is_empty(),
            "`strata {}` has no description",
            path.join(" ")
        );
        let is_group = help.contains("Commands:");
        assert!(
            is_group || help.contains("Example"),
            "`strata {}` has no example:\n{help}",
            path.join(" ")
        );
    }
}

#[test]
fn completions_for_each_shell() {
    let context = TestContext::bare();
    for shell in ["bash", "zsh", "fish"] {
        let script = context.ok(&["completions", shell]);
        assert!(
            script.contains("strata") && script.contains("register"),
            "{shell}"
        );
    }
}
