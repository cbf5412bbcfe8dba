"""Environment, CondaDependencies, registration and builds against a real workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from strata import ContainerRegistry, DockerSection, Environment, PythonSection
from strata.conda_dependencies import CondaDependencies
from strata.exceptions import UserErrorException


def test_a_new_environment_has_strata_defaults() -> None:
    env = Environment(name="myenv")
    assert env.version is None
    assert isinstance(env.python, PythonSection) and isinstance(env.docker, DockerSection)
    assert isinstance(env.docker.base_image_registry, ContainerRegistry)
    assert env.python.user_managed_dependencies is False
    assert env.python.interpreter_path == "python"
    assert list(env.python.conda_dependencies.conda_packages) == ["python=3.11", "pip"]
    assert env.docker.enabled is False and env.docker.base_image is None
    assert env.environment_variables == {}
    with pytest.raises(TypeError):
        Environment(3)  # type: ignore[arg-type]


def test_conda_dependencies_edit_like_azureml() -> None:
    deps = CondaDependencies()
    deps.add_conda_package("scikit-learn==0.22.1")
    deps.add_pip_package("pillow==6.2.1")
    deps.add_pip_package("pillow==7.0.0")
    assert list(deps.pip_packages) == ["pillow==7.0.0"], "the same name is replaced"
    deps.add_channel("conda-forge")
    deps.set_pip_option("--extra-index-url https://example.invalid/simple")
    assert list(deps.pip_options) == ["--extra-index-url https://example.invalid/simple"]
    assert list(deps.pip_packages) == ["pillow==7.0.0"], "options are not packages"
    deps.remove_pip_package("pillow")
    assert list(deps.pip_packages) == []
    deps.set_python_version("3.10")
    assert deps.get_python_version() == "3.10"
    assert "scikit-learn==0.22.1" in deps.conda_packages
    deps.remove_conda_package("scikit-learn")
    assert "scikit-learn==0.22.1" not in list(deps.conda_packages)
    created = CondaDependencies.create(pip_packages=["six"], conda_packages=["numpy"])
    assert created.get_python_version() == "3.11"
    assert list(created.conda_packages) == ["python=3.11", "pip", "numpy"]


def test_serialized_yaml_reads_back(project: Path) -> None:
    deps = CondaDependencies.create(pip_packages=["six==1.16.0", "requests>=2"], conda_packages=["numpy=1.26"])
    deps.add_channel("conda-forge")
    text = deps.serialize_to_string()
    assert "- six==1.16.0" in text and "channels:\n- conda-forge" in text
    path = deps.save(str(project / "saved" / "conda_dependencies.yml"))
    assert path == os.path.normpath(str(project / "saved" / "conda_dependencies.yml"))
    again = CondaDependencies(path)
    assert again == deps


def test_register_returns_a_new_object_and_versions_are_strings(ws) -> None:  # type: ignore[no-untyped-def]
    env = Environment("regenv")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    first = env.register(ws)
    assert first is not env and env.version is None
    assert first.version == "1" and isinstance(first.version, str)
    assert env.register(ws).version == "1", "the same content keeps its version"
    env.python.conda_dependencies.add_pip_package("six==1.15.0")
    assert env.register(ws).version == "2", "changed content is the next version"
    assert Environment.get(ws, "regenv").version == "2"
    assert Environment.get(ws, "regenv", version="1").python.conda_dependencies.pip_packages.__next__() == "six==1.16.0"
    assert ws.environments["regenv"].version == "2"


def test_get_and_list(ws) -> None:  # type: ignore[no-untyped-def]
    curated = Environment.get(workspace=ws, name="Strata-Minimal")
    assert curated.version == "1"
    envs = Environment.list(workspace=ws)
    assert "Strata-Minimal" in envs and "Strata-Tutorial" in envs
    assert envs["Strata-Minimal"].python.conda_dependencies.serialize_to_string().startswith("# Conda")
    with pytest.raises(UserErrorException, match="not found"):
        Environment.get(ws, "nosuchenv")
    with pytest.raises(UserErrorException, match="has no version 99"):
        Environment.get(ws, "Strata-Minimal", version="99")
    with pytest.raises(UserErrorException, match="either version or label"):
        Environment.get(ws, "Strata-Minimal", version="1", label="prod")


def test_labels_name_a_version(ws) -> None:  # type: ignore[no-untyped-def]
    env = Environment("labelled")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    first = env.register(ws)
    env.python.conda_dependencies.add_pip_package("six==1.15.0")
    second = env.register(ws)
    Environment.label(ws, "labelled", first.version, ["production"])
    Environment.label(ws, "labelled", second.version, ["staging", "latest-tested"])
    assert Environment.get(ws, "labelled", label="production").version == "1"
    assert Environment.get(ws, "labelled", label="staging").version == "2"
    Environment.label(ws, "labelled", "2", ["production"])
    assert Environment.get(ws, "labelled", label="production").version == "2", "a label moves"
    with pytest.raises(UserErrorException, match="Label `nope` of environment `labelled` not found"):
        Environment.get(ws, "labelled", label="nope")
    with pytest.raises(UserErrorException, match="Invalid label"):
        Environment.label(ws, "labelled", "1", ["bad label"])
    with pytest.raises(UserErrorException, match="no version 7"):
        Environment.label(ws, "labelled", "7", ["x"])


def test_from_files(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    pip_env = Environment.from_pip_requirements("pipenv", "requirements.txt")
    assert pip_env.name == "pipenv" and pip_env.version is None
    assert list(pip_env.python.conda_dependencies.pip_packages) == ["six==1.16.0"]
    conda_env = Environment.from_conda_specification("condaenv", "environment.yml")
    assert list(conda_env.python.conda_dependencies.pip_packages) == ["six==1.16.0"]
    assert pip_env.register(ws).version == "1"
    with pytest.raises(UserErrorException, match="nosuch.txt"):
        Environment.from_pip_requirements("x", "nosuch.txt")
    assert Environment.from_existing_conda_environment("x", "no-such-conda-env") is None


def test_save_load_and_clone(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    env = Environment("saved")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    env.save_to_directory(str(project / "savedenv"))
    with pytest.raises(UserErrorException):
        env.save_to_directory(str(project / "savedenv"))
    loaded = Environment.load_from_directory(str(project / "savedenv"))
    assert loaded.name == "saved" and list(loaded.python.conda_dependencies.pip_packages) == ["six==1.16.0"]
    clone = env.register(ws).clone("saved-copy")
    assert clone.name == "saved-copy" and clone.version is None


def test_dockerfile_path_is_read(project: Path) -> None:
    (project / "Dockerfile").write_text("FROM debian:bookworm\nRUN true\n")
    env = Environment("docker-env")
    env.docker.base_dockerfile = str(project / "Dockerfile")
    assert env.docker.base_dockerfile == "FROM debian:bookworm\nRUN true\n"
    env.docker.enabled = True
    assert env.docker.shared_volumes is True and env.docker.shm_size is None


def test_private_wheel_refused_twice_unless_exist_ok(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    wheel = project / "dist" / "my_pkg-0.1-py3-none-any.whl"
    wheel.parent.mkdir(exist_ok=True)
    wheel.write_bytes(b"stand-in for a wheel")
    uri = Environment.add_private_pip_wheel(ws, str(wheel))
    assert uri.startswith("strata://wheels/") and uri.endswith("/my_pkg-0.1-py3-none-any.whl")
    with pytest.raises(UserErrorException, match="stored already"):
        Environment.add_private_pip_wheel(ws, str(wheel))
    assert Environment.add_private_pip_wheel(ws, str(wheel), exist_ok=True) == uri


def test_a_failed_build_does_not_raise(ws) -> None:  # type: ignore[no-untyped-def]
    env = Environment("brokenenv")
    env.python.conda_dependencies.add_pip_package("strata-test-no-such-package-xyz==9.9.9")
    details = env.build(ws).wait_for_completion(show_output=False)
    assert details.status == "Failed"
    assert "strata-test-no-such-package-xyz" in details.get_log()


def test_build_reuse_is_visible_in_the_image_details(ws) -> None:  # type: ignore[no-untyped-def]
    env = Environment("reuse-a")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    first = env.register(ws)
    assert first.build(ws).wait_for_completion(show_output=False).status == "Succeeded"
    details = first.get_image_details(ws)
    interpreter = details["pythonEnvironment"]["interpreterPath"]
    assert os.path.isfile(interpreter)
    assert first.get_image_details(ws)["pythonEnvironment"]["interpreterPath"] == interpreter, "a rebuild reuses the build"
    clone = env.clone("reuse-b").register(ws)
    assert clone.get_image_details(ws)["pythonEnvironment"]["interpreterPath"] is None, "not built yet"
    assert clone.build(ws).wait_for_completion(show_output=False).status == "Succeeded"
    assert clone.get_image_details(ws)["pythonEnvironment"]["interpreterPath"] == interpreter, "the same content shares it"
    other = env.clone("reuse-c")
    other.python.conda_dependencies.add_pip_package("six==1.15.0")
    other = other.register(ws)
    assert other.build(ws).wait_for_completion(show_output=False).status == "Succeeded"
    assert other.get_image_details(ws)["pythonEnvironment"]["interpreterPath"] != interpreter
    assert details["imageExistsInRegistry"] is False
