//! Container images and containers, through the binary. These need podman, skopeo, bubblewrap
//! and mmdebstrap (`scripts/setup-containers`); without them each test says why it was skipped.
//! `scripts/test` gives podman a private configuration and image store, and starts a registry
//! on loopback (`STRATA_TEST_REGISTRY`).

#![expect(clippy::print_stderr, reason = "skipped tests say why")]

use std::path::Path;
use std::process::Command;

use crate::common::{TestContext, test_data};
use crate::serve::{free_port, request};

const TOOLS: &[&str] = &["podman", "skopeo", "bwrap", "mmdebstrap"];

/// The missing tools, printed; the caller returns early when there are any.
fn skip_without_tools(test: &str) -> bool {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(true)
        })
        .collect();
    if missing.is_empty() {
        return false;
    }
    eprintln!(
        "skipped {test}: {} not installed (scripts/setup-containers installs them)",
        missing.join(", ")
    );
    true
}

fn register_env(context: &TestContext, name: &str, requirements: &str) {
    context.write(&format!("{name}.txt"), requirements);
    context.ok(&[
        "env",
        "register",
        "--name",
        name,
        "--requirements",
        &format!("{name}.txt"),
    ]);
}

/// An Azure ML environment directory named after the definition (its
/// `azureml_environment.json` plus `files`), registered.
fn register_dir(context: &TestContext, definition: serde_json::Value, files: &[(&str, &str)]) {
    let name = definition["name"].as_str().unwrap().to_string();
    let dir = context.path().join(&name);
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join("azureml_environment.json"), definition.to_string()).unwrap();
    for (file, content) in files {
        fs_err::write(dir.join(file), content).unwrap();
    }
    context.ok(&["env", "register", "-d", &name]);
}

fn image_json(context: &TestContext, command: &mut Command) -> serde_json::Value {
    let output = context.output(command);
    assert_eq!(output.code, 0, "{output}");
    serde_json::from_str(&output.stdout).expect("JSON")
}

/// The Debian base (made in the shared cache when missing) exported to `base.tar` in the
/// test's directory.
fn debian_base_archive(context: &TestContext) -> std::path::PathBuf {
    context.ok(&["image", "base", "debian-python"]);
    let store = crate::common::shared_cache().join("images/oci");
    let archive = context.path().join("base.tar");
    let copy = Command::new("skopeo")
        .arg("copy")
        .arg(format!(
            "oci:{}:strata/base/debian-python:bookworm",
            store.display()
        ))
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(copy.status.success(), "{copy:?}");
    archive
}

/// The same command started from a shell with another umask.
fn with_umask(command: &mut Command, umask: &str) -> Command {
    let mut wrapped = Command::new("sh");
    wrapped
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn two_independent_builds_give_the_same_digest() {
    if skip_without_tools("two_independent_builds_give_the_same_digest") {
        return;
    }
    let context = TestContext::new();
    register_env(&context, "repro", "six==1.16.0\nattrs==25.3.0\n");
    let mut results = Vec::new();
    for (attempt, umask) in [("a", "022"), ("b", "077")] {
        // Fresh caches: the base image, uv's downloads and the prefix are all made again, the
        // second time under another umask.
        let cache = context.path().join(format!("cache-{attempt}"));
        let base = image_json(
            &context,
            &mut with_umask(
                context.command_with_cache(&cache).args([
                    "image",
                    "base",
                    "debian-python",
                    "--json",
                ]),
                umask,
            ),
        );
        assert_eq!(base["reused"], false);
        let archive = context.path().join(format!("repro-{attempt}.tar"));
        let image = image_json(
            &context,
            &mut with_umask(
                context.command_with_cache(&cache).args([
                    "env",
                    "image",
                    "repro",
                    "--json",
                    "--output",
                    "oci-archive",
                    archive.to_str().unwrap(),
                ]),
                umask,
            ),
        );
        assert_eq!(image["reused"], false, "{image}");
        results.push((base["digest"].clone(), image, sha256_of(&archive)));
    }
    assert_eq!(results[0].0, results[1].0, "base images differ");
    assert_eq!(
        results[0].1["digest"], results[1].1["digest"],
        "environment images differ"
    );
    assert_eq!(results[0].2, results[1].2, "oci-archives differ");
    let reference = results[0].1["reference"].as_str().unwrap().to_string();
    assert!(reference.starts_with("strata/env_"), "{reference}");

    // An unchanged definition is a lookup.
    let cache = context.path().join("cache-a");
    let again = image_json(
        &context,
        context
            .command_with_cache(&cache)
            .args(["env", "image", "repro", "--json"]),
    );
    assert_eq!(again["reused"], true);
    assert_eq!(again["digest"], results[0].1["digest"]);

    // skopeo reads the store and the archive and sees our digest.
    let layout_dir = cache.join("images/oci");
    let layout = layout_dir.to_str().unwrap();
    let inspect = Command::new("skopeo")
        .args(["inspect", &format!("oci:{layout}:{reference}")])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{inspect:?}");
    let inspected: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspected["Digest"], again["digest"]);
    assert!(
        inspected["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("PATH=/opt/strata/env/bin:")),
        "{inspected}"
    );
    let inspect = Command::new("skopeo")
        .arg("inspect")
        .arg(format!(
            "oci-archive:{}",
            context.path().join("repro-b.tar").display()
        ))
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{inspect:?}");

    // `env show` names the image.
    let shown = context.output(
        context
            .command_with_cache(&cache)
            .args(["env", "show", "repro"]),
    );
    assert!(shown.stdout.contains("Image:"), "{shown}");
    assert!(shown.stdout.contains(&reference), "{shown}");

    // The Debian base is Strata's own: nothing to pin (registry bases are, see the push test).
    let lock = context.json(&["env", "lock", "repro", "--json"]);
    assert!(lock["lock"]["baseImage"].is_null(), "{lock}");

    // Adding a package changes only the environment layer.
    context.write("repro.txt", "six==1.16.0\nattrs==25.3.0\npackaging==25.0\n");
    context.ok(&[
        "env",
        "register",
        "--name",
        "repro",
        "--requirements",
        "repro.txt",
    ]);
    let bigger = image_json(
        &context,
        context
            .command_with_cache(&cache)
            .args(["env", "image", "repro:2", "--json"]),
    );
    let layers = |reference: &str| -> Vec<String> {
        let inspect = Command::new("skopeo")
            .args(["inspect", &format!("oci:{layout}:{reference}")])
            .output()
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        value["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    let old = layers(&reference);
    let new = layers(bigger["reference"].as_str().unwrap());
    assert_eq!(old.len(), 2);
    assert_eq!(old[0], new[0], "the base layer is shared");
    assert_ne!(old[1], new[1], "the environment layer is rebuilt");

    // Version 2 took most of its bytecode from the cache; built where nothing is cached (the
    // same base copied in), it is the same image.
    let fresh = context.path().join("cache-c");
    fs_err::create_dir_all(fresh.join("images/oci")).unwrap();
    let copy = Command::new("skopeo")
        .args(["copy", "--preserve-digests"])
        .arg(format!("oci:{layout}:strata/base/debian-python:bookworm"))
        .arg(format!(
            "oci:{}:strata/base/debian-python:bookworm",
            fresh.join("images/oci").display()
        ))
        .output()
        .unwrap();
    assert!(copy.status.success(), "{copy:?}");
    let rebuilt = image_json(
        &context,
        context
            .command_with_cache(&fresh)
            .args(["env", "image", "repro:2", "--json"]),
    );
    assert_eq!(rebuilt["reused"], false, "{rebuilt}");
    assert_eq!(
        rebuilt["digest"], bigger["digest"],
        "cached bytecode changed the image"
    );
}

#[test]
fn runs_and_services_in_containers() {
    if skip_without_tools("runs_and_services_in_containers") {
        return;
    }
    let context = TestContext::new();
    register_env(&context, "boxed", "six==1.16.0\n");
    let image = context.json(&["env", "image", "boxed", "--load", "--json"]);
    assert!(
        image["loaded"]
            .as_str()
            .unwrap()
            .starts_with("localhost/strata/env_"),
        "{image}"
    );
    context.write(
        "train.py",
        "import os, sys, six\nfrom strata import Run\nrun = Run.get_context()\nrun.log('accuracy', 0.9)\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/model.txt', 'w').write('weights')\nprint('interpreter', sys.executable, sys.argv[1:])\n",
    );
    let output = context.run(&[
        "run",
        "--target",
        "container",
        "--env",
        "boxed",
        "train.py",
        "--epochs",
        "2",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output
            .stdout
            .contains("interpreter /opt/strata/env/bin/python ['--epochs', '2']"),
        "{output}"
    );
    let runs = context.json(&["runs", "list", "--json"]);
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let run = context.json(&["runs", "show", &id, "--json"])["run"].clone();
    assert_eq!(run["status"], "Completed", "{run}");
    assert_eq!(run["target"], "container", "{run}");
    assert!(
        run["image"]
            .as_str()
            .unwrap()
            .contains(image["digest"].as_str().unwrap()),
        "{run}"
    );
    let shown = context.json(&["runs", "show", &id, "--json"]);
    assert_eq!(shown["metrics"][0]["name"], "accuracy", "{shown}");
    assert_eq!(shown["outputs"][0]["path"], "outputs/model.txt", "{shown}");
    let logs = context.ok(&["runs", "logs", &id]);
    assert!(
        logs.contains("interpreter /opt/strata/env/bin/python"),
        "{logs}"
    );

    // Cancelling a container run stops the script inside and removes the container.
    context.write(
        "slow.py",
        "import time\nprint('started', flush=True)\ntime.sleep(300)\n",
    );
    let submitted = context.ok(&[
        "run",
        "--target",
        "container",
        "--env",
        "boxed",
        "--detach",
        "--grace",
        "5",
        "slow.py",
    ]);
    let slow = submitted.trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !context
        .run(&["runs", "logs", &slow])
        .stdout
        .contains("started")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the container run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    context.ok(&["runs", "cancel", &slow]);
    let waited = context.run(&["runs", "wait", &slow]);
    assert_ne!(waited.code, 0, "{waited}");
    let canceled = context.json(&["runs", "show", &slow, "--json"])["run"].clone();
    assert_eq!(canceled["status"], "Canceled", "{canceled}");
    let containers = Command::new("podman")
        .args(["ps", "--all", "--format", "{{.Names}}"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&containers.stdout).contains(&slow),
        "the container of {slow} is left"
    );

    // The model from the container run, served from a container.
    context.ok(&[
        "model",
        "register",
        "--name",
        "boxmodel",
        "--run",
        &id,
        "--path",
        "outputs/model.txt",
    ]);
    context.write(
        "score.py",
        "import json, os, six\ndef init():\n    global weights\n    weights = open(os.path.join(os.environ['AZUREML_MODEL_DIR'], 'model.txt')).read()\ndef run(raw):\n    return {'weights': weights, 'sum': sum(json.loads(raw)['data']), 'python': __import__('sys').executable}\n",
    );
    let port = free_port();
    let port_text = port.to_string();
    let output = context.run(&[
        "deploy",
        "boxsvc",
        "--container",
        "--model",
        "boxmodel:1",
        "--entry-script",
        "score.py",
        "--port",
        &port_text,
    ]);
    assert_eq!(output.code, 0, "{output}");
    let (status, body) = request(port, "POST", "/score", r#"{"data": [1, 2, 3]}"#);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["weights"], "weights");
    assert_eq!(answer["sum"], 6);
    assert_eq!(answer["python"], "/opt/strata/env/bin/python");
    let (status, _) = request(port, "GET", "/health/ready", "");
    assert_eq!(status, 200);
    let service = context.json(&["service", "show", "boxsvc", "--json"])["service"].clone();
    assert_eq!(service["state"], "running", "{service}");
    let logs = context.ok(&["service", "logs", "boxsvc"]);
    assert!(logs.contains("POST /score 200"), "{logs}");
    let reload = context.run(&["service", "reload", "boxsvc"]);
    assert_eq!(reload.code, 1, "{reload}");
    assert!(
        reload.stderr.contains("strata deploy --container"),
        "{reload}"
    );
    // A supervisor killed outright leaves its container serving; delete still removes it.
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", "serve --service boxsvc"])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, _) = request(port, "GET", "/health/live", "");
    assert_eq!(status, 200, "the container should outlive its supervisor");
    context.ok(&["service", "delete", "boxsvc"]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn docker_enabled_user_managed_and_dockerfile_bases() {
    if skip_without_tools("docker_enabled_user_managed_and_dockerfile_bases") {
        return;
    }
    let context = TestContext::new();
    // The base as an archive, for a Dockerfile's FROM (no registry needed).
    let archive = debian_base_archive(&context);

    // User-managed: nothing installed, the image's interpreter runs the script; runs go to a
    // container because docker.enabled is true.
    register_dir(
        &context,
        serde_json::json!({
            "name": "usermanaged",
            "python": {"userManagedDependencies": true, "interpreterPath": "/usr/bin/python3"},
            "docker": {"enabled": true, "baseImage": "strata/base/debian-python:bookworm"},
        }),
        &[],
    );
    context.write(
        "where.py",
        "import os, sys\nprint('python', sys.executable, os.path.exists('/opt/strata/env'))\n",
    );
    let output = context.run(&["run", "--env", "usermanaged", "where.py"]);
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output.stdout.contains("python /usr/bin/python3 False"),
        "{output}"
    );

    // A Dockerfile base, built with podman, with the environment on top.
    let dockerfile = fs_err::read_to_string(test_data().join("images/Dockerfile"))
        .unwrap()
        .replace("BASE_ARCHIVE", &archive.display().to_string());
    register_dir(
        &context,
        serde_json::json!({
            "name": "fromdockerfile",
            "python": {"condaDependenciesFile": "conda_dependencies.yml"},
            "docker": {"enabled": false},
        }),
        &[
            ("BaseDockerfile", &dockerfile),
            (
                "conda_dependencies.yml",
                "name: fromdockerfile\ndependencies:\n  - pip:\n    - six==1.16.0\n",
            ),
        ],
    );
    context.write(
        "check.py",
        "import six\nprint('marker', open('/etc/strata-test-marker').read().strip(), six.__version__)\n",
    );
    let output = context.run(&[
        "run",
        "--target",
        "container",
        "--env",
        "fromdockerfile",
        "check.py",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output.stdout.contains("marker from-dockerfile 1.16.0"),
        "{output}"
    );

    // The same with buildah as the builder.
    register_dir(
        &context,
        serde_json::json!({
            "name": "frombuildah",
            "python": {"userManagedDependencies": true, "interpreterPath": "/usr/bin/python3"},
        }),
        &[(
            "BaseDockerfile",
            &dockerfile.replace("from-dockerfile", "from-buildah"),
        )],
    );
    let output = context.output(
        context
            .command()
            .env("STRATA_IMAGE_BUILDER", "buildah")
            .args(["env", "image", "frombuildah", "--load"]),
    );
    assert_eq!(output.code, 0, "{output}");
    context.write(
        "marker.py",
        "print('marker', open('/etc/strata-test-marker').read().strip())\n",
    );
    let output = context.run(&[
        "run",
        "--target",
        "container",
        "--env",
        "frombuildah",
        "marker.py",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stdout.contains("marker from-buildah"), "{output}");
}

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
fn images_need_linux_amd64() {
    let context = TestContext::new();
    register_dir(
        &context,
        serde_json::json!({
            "name": "arm",
            "python": {"userManagedDependencies": true},
            "docker": {"platform": {"os": "Linux", "architecture": "arm64"}},
        }),
        &[],
    );
    let output = context.run(&["env", "image", "arm"]);
    assert_eq!(output.code, 1, "{output}");
    assert!(output.stderr.contains("docker.platform"), "{output}");
    assert!(output.stderr.contains("Linux/arm64"), "{output}");
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

#[test]
fn conda_packages_in_an_image_name_the_image_prefix() {
    if skip_without_tools("conda_packages_in_an_image_name_the_image_prefix") {
        return;
    }
    let context = TestContext::new();
    let channel = context.path().join("channel");
    strata_build::test_channel::write_channel(
        &channel,
        &strata_build::test_channel::sample_packages(),
    )
    .unwrap();
    context.write(
        "environment.yml",
        &format!(
            "name: condaimage\nchannels:\n- file://{}\ndependencies:\n- python=3.11\n- mat-app\n- pip\n- pip:\n  - six==1.16.0\n",
            channel.display()
        ),
    );
    context.ok(&[
        "env",
        "register",
        "--name",
        "condaimage",
        "--conda-file",
        "environment.yml",
    ]);
    context.write(
        "conda_check.py",
        "import json, os, subprocess, six\nprint(open('/opt/strata/env/etc/mat-app.conf').read().strip())\nprint(subprocess.check_output(['mat-hello']).decode().strip(), six.__version__)\nrecord = [f for f in os.listdir('/opt/strata/env/conda-meta') if f.startswith('mat-app')][0]\nprint('cache paths kept:', 'extracted_package_dir' in json.load(open('/opt/strata/env/conda-meta/' + record)))\n",
    );
    let output = context.run(&[
        "run",
        "--target",
        "container",
        "--env",
        "condaimage",
        "conda_check.py",
    ]);
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stdout.contains("prefix=/opt/strata/env"), "{output}");
    assert!(
        output.stdout.contains("hello from mat-hello 1.16.0"),
        "{output}"
    );
    assert!(
        output.stdout.contains("cache paths kept: False"),
        "{output}"
    );
}

#[test]
fn concurrent_builds_of_one_image_build_it_once() {
    if skip_without_tools("concurrent_builds_of_one_image_build_it_once") {
        return;
    }
    let context = TestContext::new();
    let archive = debian_base_archive(&context);
    register_env(&context, "together", "six==1.16.0\n");
    context.ok(&["env", "lock", "together"]);
    // A cache of its own: nothing is built yet.
    let cache = context.path().join("cache");
    let children: Vec<_> = (0..3)
        .map(|_| {
            context
                .command_with_cache(&cache)
                .args(["env", "image", "together", "--json", "--base-archive"])
                .arg(&archive)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<serde_json::Value> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{output:?}");
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .collect();
    let built = results.iter().filter(|r| r["reused"] == false).count();
    assert_eq!(built, 1, "{results:?}");
    assert!(
        results.iter().all(|r| r["digest"] == results[0]["digest"]),
        "{results:?}"
    );
    let list = context.output(
        context
            .command_with_cache(&cache)
            .args(["image", "list", "--json"]),
    );
    let images: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let envs = images
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reference"].as_str().unwrap().starts_with("strata/env_"))
        .count();
    assert_eq!(envs, 1, "{images}");
}

#[test]
fn an_image_of_a_server_workspaces_version_is_made_here_from_the_shared_lock() {
    if skip_without_tools(
        "an_image_of_a_server_workspaces_version_is_made_here_from_the_shared_lock",
    ) {
        return;
    }
    let Some(team) = crate::server::Team::new("image") else {
        return;
    };
    team.register("imaged", "requirements.txt", "six==1.16.0\n");
    let output = team.run(&team.alice, "alice", &["env", "image", "imaged", "--json"]);
    assert_eq!(output.code, 0, "{output}");
    let image: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(image["environment"], "imaged:1", "{image}");
    // Nobody had locked it: Alice's machine locked it and shared the lock the image has.
    let lock: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["env", "lock", "imaged", "--json"]))
            .unwrap();
    assert_eq!(lock["lockHash"], image["lockHash"], "{lock}");
    let listed = team.ok(&team.alice, "alice", &["image", "list"]);
    assert!(listed.contains("imaged:1"), "{listed}");
    let again = team.run(
        &team.alice,
        "alice",
        &["env", "image", "imaged:1", "--json"],
    );
    let again: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(
        (&again["reused"], &again["digest"]),
        (&serde_json::json!(true), &image["digest"]),
        "{again}"
    );
}

#[test]
fn a_container_run_on_a_server_workspace_reports_there_and_is_canceled_from_another_machine() {
    if skip_without_tools(
        "a_container_run_on_a_server_workspace_reports_there_and_is_canceled_from_another_machine",
    ) {
        return;
    }
    let Some(team) = crate::server::Team::new("boxrun") else {
        return;
    };
    let shown = |id: &str| -> serde_json::Value {
        serde_json::from_str(&team.ok(&team.bob, "bob", &["runs", "show", id, "--json"])).unwrap()
    };
    team.register("boxed", "requirements.txt", "six==1.16.0\n");
    team.context.write(
        "src/train.py",
        "import os, sys, six\nfrom strata import Run\nrun = Run.get_context()\nrun.log('accuracy', 0.9)\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/model.txt', 'w').write('weights')\nprint('interpreter', sys.executable)\n",
    );
    let output = team.run(
        &team.alice,
        "alice",
        &[
            "run",
            "--target",
            "container",
            "--env",
            "boxed",
            "--source-dir",
            "src",
            "train.py",
        ],
    );
    assert_eq!(output.code, 0, "{output}");
    assert!(
        output
            .stdout
            .contains("interpreter /opt/strata/env/bin/python"),
        "{output}"
    );

    // Bob, a reader on his own machine, sees what ran in the container on Alice's.
    let runs: serde_json::Value =
        serde_json::from_str(&team.ok(&team.bob, "bob", &["runs", "list", "--json"])).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let run = shown(&id);
    assert_eq!(
        (&run["run"]["status"], &run["run"]["target"]),
        (
            &serde_json::json!("Completed"),
            &serde_json::json!("container")
        ),
        "{run}"
    );
    assert!(run["run"]["image"].is_string(), "{run}");
    assert_eq!(run["metrics"][0]["name"], "accuracy", "{run}");
    assert_eq!(run["outputs"][0]["path"], "outputs/model.txt", "{run}");
    let logs = team.ok(&team.bob, "bob", &["runs", "logs", &id]);
    assert!(
        logs.contains("interpreter /opt/strata/env/bin/python"),
        "{logs}"
    );

    // A detached container run, canceled from Alice's other machine: the container goes.
    team.context.write(
        "src/slow.py",
        "import time\nprint('started', flush=True)\ntime.sleep(300)\n",
    );
    let slow = team
        .ok(
            &team.alice,
            "alice",
            &[
                "run",
                "--target",
                "container",
                "--env",
                "boxed",
                "--detach",
                "--grace",
                "5",
                "--source-dir",
                "src",
                "slow.py",
            ],
        )
        .trim()
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !team
        .ok(&team.bob, "bob", &["runs", "logs", &slow])
        .contains("started")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the container run's log never reached the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    team.ok(&team.alice, "alice-laptop", &["runs", "cancel", &slow]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while shown(&slow)["run"]["status"] != "Canceled" {
        assert!(
            std::time::Instant::now() < deadline,
            "the container run did not stop: {}",
            shown(&slow)
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let containers = Command::new("podman")
            .args(["ps", "--all", "--format", "{{.Names}}"])
            .output()
            .unwrap();
        if !String::from_utf8_lossy(&containers.stdout).contains(&slow) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the container of {slow} is left"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
