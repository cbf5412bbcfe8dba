//! Making images: the same digest from independent builds, the bases an environment can name,
//! conda packages, one build for concurrent asks, and the platforms images are for.

use super::*;

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
