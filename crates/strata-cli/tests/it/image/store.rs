//! Where images are kept: this machine's image store (`image list|rm`) and a registry, pushed
//! to and pulled from with the digest kept.

use super::*;

#[test]
fn push_and_pull_through_a_registry_keep_the_digest() {
    if skip_without_tools("push_and_pull_through_a_registry_keep_the_digest") {
        return;
    }
    let Ok(registry) = std::env::var("STRATA_TEST_REGISTRY") else {
        eprintln!(
            "skipped push_and_pull_through_a_registry_keep_the_digest: no STRATA_TEST_REGISTRY (scripts/test starts one)"
        );
        return;
    };
    let context = TestContext::new();
    register_env(&context, "pushed", "six==1.16.0\n");
    let destination = format!("{registry}/strata-test/pushed");
    let image = context.json(&["env", "image", "pushed", "--push", &destination, "--json"]);
    let digest = image["digest"].as_str().unwrap();
    let pushed = image["pushed"].as_str().unwrap();
    assert!(pushed.ends_with(digest), "{image}");
    let tag = pushed.split('@').next().unwrap();
    let inspect = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{tag}")])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{inspect:?}");
    let inspected: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspected["Digest"], digest);

    // The pushed image as the base of another environment: pulled by tag, pinned by digest in
    // the lock, and its own environment hidden by the new one.
    register_dir(
        &context,
        serde_json::json!({
            "name": "onpushed",
            "python": {"condaDependenciesFile": "conda_dependencies.yml"},
            "docker": {"baseImage": tag},
        }),
        &[(
            "conda_dependencies.yml",
            "name: onpushed\ndependencies:\n  - pip:\n    - attrs==25.3.0\n",
        )],
    );
    let pulled = context.json(&["env", "image", "onpushed", "--json"]);
    assert_eq!(pulled["base"]["digest"], digest, "{pulled}");
    assert_eq!(pulled["base"]["reference"], tag, "{pulled}");
    let lock = context.json(&["env", "lock", "onpushed", "--json"]);
    assert_eq!(lock["lock"]["baseImage"]["digest"], digest, "{lock}");
    assert_eq!(lock["lock"]["baseImage"]["reference"], tag, "{lock}");
    let again = context.json(&["env", "image", "onpushed", "--json"]);
    assert_eq!(again["reused"], true, "{again}");
    context.write(
        "which_packages.py",
        "import importlib.util as u\nprint('attrs', u.find_spec('attrs') is not None, 'six', u.find_spec('six') is not None)\n",
    );
    let output = context.run(&[
        "run",
        "--target",
        "container",
        "--env",
        "onpushed",
        "which_packages.py",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stdout.contains("attrs True six False"), "{output}");
}

#[test]
fn image_list_and_rm() {
    let context = TestContext::new();
    let cache = context.path().join("cache");
    let output = context.output(context.command_with_cache(&cache).args(["image", "list"]));
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stderr.contains("No images"), "{output}");
    let output = context.output(context.command_with_cache(&cache).args([
        "image",
        "rm",
        "strata/env_missing",
    ]));
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output.stderr.contains("No image `strata/env_missing`"),
        "{output}"
    );
}
