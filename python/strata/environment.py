"""`Environment` and its sections, `ImageBuildDetails`.

Differences from azureml-core: Strata's defaults (Python 3.11 and pip, no `azureml-defaults`,
no `EXAMPLE_ENV_VAR`, no default base image); `build()` locks and installs the environment into
Strata's content-addressed cache instead of building a cloud image (the same content reuses
the same build); the curated environments are `Strata-*`.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import threading
import warnings
from typing import TYPE_CHECKING, Any, Callable

from ._transport import printer
from .conda_dependencies import CondaDependencies
from .exceptions import UserErrorException

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["Environment", "PythonSection", "DockerSection", "ContainerRegistry", "ImageBuildDetails", "DockerImageDetails"]


def _parse_definition(source: list[str], name: str) -> dict[str, Any]:
    """A definition read by the binary (`strata env hash --json`), without a workspace."""
    from ._transport import LocalCli

    result = LocalCli(os.getcwd()).call(["env", "hash", *source, "--name", name])
    return result["definition"]


class ContainerRegistry:
    """A registry for a base image. Strata never stores a password: put `${VARIABLE}` in it."""

    def __init__(self) -> None:
        self.address: str | None = None
        self.username: str | None = None
        self.password: str | None = None
        self.registry_identity: Any = None

    def _to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "username": self.username, "password": self.password, "registryIdentity": self.registry_identity}

    @classmethod
    def _from_dict(cls, data: dict[str, Any] | None) -> "ContainerRegistry":
        registry = cls()
        data = data or {}
        registry.address, registry.username = data.get("address"), data.get("username")
        registry.password, registry.registry_identity = data.get("password"), data.get("registryIdentity")
        return registry


class PythonSection:
    """`environment.python`: the conda dependencies, or a user-managed interpreter."""

    def __init__(self, **kwargs: Any) -> None:
        self.user_managed_dependencies: bool = False
        self.interpreter_path: str = "python"
        self.conda_dependencies_file: str | None = None
        self.base_conda_environment: str | None = None
        self.conda_dependencies: CondaDependencies | None = CondaDependencies()

    def _to_dict(self) -> dict[str, Any]:
        return {
            "userManagedDependencies": self.user_managed_dependencies,
            "interpreterPath": self.interpreter_path,
            "condaDependenciesFile": self.conda_dependencies_file,
            "baseCondaEnvironment": self.base_conda_environment,
            "condaDependencies": self.conda_dependencies._as_dict() if self.conda_dependencies is not None else None,
        }

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> "PythonSection":
        section = cls()
        section.user_managed_dependencies = bool(data.get("userManagedDependencies", False))
        section.interpreter_path = data.get("interpreterPath") or "python"
        section.conda_dependencies_file = data.get("condaDependenciesFile")
        section.base_conda_environment = data.get("baseCondaEnvironment")
        conda = data.get("condaDependencies")
        section.conda_dependencies = CondaDependencies(_underlying_structure=conda) if conda else None
        return section


class DockerSection:
    """`environment.docker`: the base image, Dockerfile and container options.

    `enabled=True` makes runs use a podman container of the environment's image (Azure:
    Docker); like azureml-core it is deprecated in favour of `RunConfiguration.docker`."""

    def __init__(self, **kwargs: Any) -> None:
        self.enabled: bool = False
        self.base_image: str | None = None
        self._base_dockerfile: str | None = None
        self.build_context: Any = None
        self.shared_volumes: bool = True
        self.shm_size: str | None = None
        self.arguments: list[str] = []
        self.base_image_registry: ContainerRegistry = ContainerRegistry()
        self.gpu_support: bool = False
        self._platform: dict[str, Any] = {"os": "Linux", "architecture": "amd64"}

    @property
    def base_dockerfile(self) -> str | None:
        return self._base_dockerfile

    @base_dockerfile.setter
    def base_dockerfile(self, value: str | None) -> None:
        """Dockerfile text, or the path of a Dockerfile (read at once, as azureml-core does)."""
        if value is not None and "\n" not in value and os.path.isfile(value):
            with open(value, encoding="utf-8") as source:
                value = source.read()
        self._base_dockerfile = value

    def _to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "baseImage": self.base_image,
            "baseDockerfile": self._base_dockerfile,
            "buildContext": self.build_context,
            "sharedVolumes": self.shared_volumes,
            "shmSize": self.shm_size,
            "arguments": list(self.arguments),
            "baseImageRegistry": self.base_image_registry._to_dict(),
            "platform": self._platform,
        }

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> "DockerSection":
        section = cls()
        section.enabled = bool(data.get("enabled", False))
        section.base_image = data.get("baseImage")
        section._base_dockerfile = data.get("baseDockerfile")
        section.build_context = data.get("buildContext")
        section.shared_volumes = bool(data.get("sharedVolumes", True))
        section.shm_size = data.get("shmSize")
        section.arguments = list(data.get("arguments") or [])
        section.base_image_registry = ContainerRegistry._from_dict(data.get("baseImageRegistry"))
        section._platform = data.get("platform") or section._platform
        return section


class Environment:
    """An environment definition; registered ones have a `version` (a string, as in Azure)."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Environment name must be a string, not {type(name).__name__}")
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self._environment_variables: dict[str, str] = {}
        self.inferencing_stack_version: str | None = None
        self._rest: dict[str, Any] = {}

    # -- the Azure dict --------------------------------------------------------------------

    @property
    def environment_variables(self) -> dict[str, str]:
        return self._environment_variables

    @environment_variables.setter
    def environment_variables(self, value: dict[str, str]) -> None:
        warnings.warn("Environment.environment_variables is deprecated: set RunConfiguration.environment_variables for runtime variables", DeprecationWarning, stacklevel=2)
        self._environment_variables = dict(value)

    def _serialize_to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "environmentVariables": dict(self._environment_variables),
            "python": self.python._to_dict(),
            "docker": self.docker._to_dict(),
            "inferencingStackVersion": self.inferencing_stack_version,
        }
        for key, value in self._rest.items():
            data.setdefault(key, copy.deepcopy(value))
        return data

    @classmethod
    def _deserialize_and_add_to_object(cls, data: dict[str, Any]) -> "Environment":
        environment = cls(data.get("name") or "")
        version = data.get("version")
        environment.version = None if version is None else str(version)
        environment._environment_variables = dict(data.get("environmentVariables") or {})
        environment.python = PythonSection._from_dict(data.get("python") or {})
        environment.docker = DockerSection._from_dict(data.get("docker") or {})
        environment.inferencing_stack_version = data.get("inferencingStackVersion")
        environment._rest = {k: copy.deepcopy(v) for k, v in data.items() if k not in {"name", "version", "environmentVariables", "python", "docker", "inferencingStackVersion"}}
        return environment

    # -- constructors ----------------------------------------------------------------------

    @staticmethod
    def from_pip_requirements(name: str, file_path: str, pip_version: str | None = None) -> "Environment":
        """An environment of a requirements file's packages (with `pip[=pip_version]`)."""
        environment = Environment._deserialize_and_add_to_object(_parse_definition(["--requirements", file_path], name))
        environment.version = None
        if pip_version and environment.python.conda_dependencies is not None:
            environment.python.conda_dependencies.add_conda_package(f"pip={pip_version}")
        return environment

    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> "Environment":
        """An environment of a conda `environment.yml`."""
        environment = Environment._deserialize_and_add_to_object(_parse_definition(["--conda-file", file_path], name))
        environment.version = None
        return environment

    @staticmethod
    def from_existing_conda_environment(name: str, conda_environment_name: str) -> "Environment | None":
        """An environment of an existing conda environment, read from its `conda-meta` (no
        conda needed). Takes a prefix path, or an environment name looked up in the usual
        `envs` directories. `None` when it is not found, as azureml-core returns `None`."""
        prefix = conda_environment_name
        if not os.path.isdir(prefix):
            roots = [os.environ.get("CONDA_PREFIX", ""), os.path.expanduser("~/miniconda3"), os.path.expanduser("~/anaconda3"), os.path.expanduser("~/.conda"), "/opt/conda"]
            found = [os.path.join(root, "envs", conda_environment_name) for root in roots if root]
            prefix = next((p for p in found if os.path.isdir(os.path.join(p, "conda-meta"))), "")
        if not prefix:
            return None
        try:
            definition = _parse_definition(["--conda-prefix", prefix], name)
        except UserErrorException:
            return None
        environment = Environment._deserialize_and_add_to_object(definition)
        environment.version = None
        return environment

    @staticmethod
    def from_docker_image(name: str, image: str, container_registry: ContainerRegistry | None = None, conda_specification: str | None = None, pip_requirements: str | None = None) -> "Environment":
        """An environment on a base image: user-managed unless packages are given."""
        source = ["--image", image]
        if conda_specification:
            source += ["--conda-file", conda_specification]
        if pip_requirements:
            source += ["--requirements", pip_requirements]
        environment = Environment._deserialize_and_add_to_object(_parse_definition(source, name))
        environment.version = None
        if container_registry is not None:
            environment.docker.base_image_registry = container_registry
        return environment

    @staticmethod
    def from_dockerfile(name: str, dockerfile: str, conda_specification: str | None = None, pip_requirements: str | None = None) -> "Environment":
        """An environment on a Dockerfile (its text, or a path to it)."""
        environment = Environment(name)
        environment.docker.base_dockerfile = dockerfile
        if conda_specification:
            environment.python.conda_dependencies = CondaDependencies(conda_specification)
        elif pip_requirements:
            environment.python.conda_dependencies = Environment.from_pip_requirements(name, pip_requirements).python.conda_dependencies
        else:
            environment.python.user_managed_dependencies = True
            environment.python.conda_dependencies = None
        return environment

    @staticmethod
    def load_from_directory(path: str) -> "Environment":
        """An environment saved by `save_to_directory` (or `strata env download`)."""
        with open(os.path.join(path, "azureml_environment.json"), encoding="utf-8") as source:
            data = json.load(source)
        environment = Environment._deserialize_and_add_to_object(data)
        conda_file = os.path.join(path, "conda_dependencies.yml")
        if os.path.isfile(conda_file) and not environment.python.user_managed_dependencies:
            environment.python.conda_dependencies = CondaDependencies(conda_file)
        return environment

    def save_to_directory(self, path: str, overwrite: bool = False) -> None:
        """Writes `azureml_environment.json` and `conda_dependencies.yml`."""
        json_path = os.path.join(path, "azureml_environment.json")
        if os.path.exists(json_path) and not overwrite:
            raise UserErrorException(f"{json_path} exists (pass overwrite=True to replace it)")
        os.makedirs(path, exist_ok=True)
        data = self._serialize_to_dict()
        deps = self.python.conda_dependencies
        data["python"]["condaDependencies"] = None
        with open(json_path, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=4)
        if deps is not None:
            deps.save(os.path.join(path, "conda_dependencies.yml"))

    def clone(self, new_name: str) -> "Environment":
        """A copy under another name, with `version` cleared."""
        environment = Environment._deserialize_and_add_to_object(self._serialize_to_dict())
        environment.name = new_name
        environment.version = None
        return environment

    # -- the workspace ---------------------------------------------------------------------

    def register(self, workspace: "Workspace") -> "Environment":
        """Registers the definition and returns **a new** `Environment`, the registered one:
        the same content gives the same version, changed content the next one. `self` is
        unchanged, as in azureml-core."""
        with tempfile.TemporaryDirectory(prefix="strata-env-") as directory:
            data = self._serialize_to_dict()
            with open(os.path.join(directory, "azureml_environment.json"), "w", encoding="utf-8") as out:
                json.dump(data, out)
            result = workspace._transport.call(["env", "register", "-d", directory])
        # One process: the registered version has this content (the same spec hash).
        registered = Environment._deserialize_and_add_to_object(data)
        registered.name, registered.version = result["name"], str(result["version"])
        return registered

    @staticmethod
    def get(workspace: "Workspace", name: str, version: str | None = None, label: str | None = None) -> "Environment":
        """A registered version: the latest, the one `version` names, or the one `label`
        names (`Environment.label`). Unknown names, versions and labels raise
        `UserErrorException`; `version` and `label` together too."""
        if version is not None and label is not None:
            raise UserErrorException("Pass either version or label to Environment.get, not both")
        reference = name if version is None else f"{name}:{version}"
        result = workspace._transport.call(["env", "show", reference, *(["--label", label] if label is not None else [])])
        environment = Environment._deserialize_and_add_to_object(result["definition"])
        environment.name, environment.version = result["name"], str(result["version"])
        return environment

    @staticmethod
    def label(workspace: "Workspace", name: str, version: str, labels: list[str]) -> None:
        """Puts labels on a version; a label names one version at a time, so labelling
        another version moves it."""
        if isinstance(labels, str):
            labels = [labels]
        workspace._transport.call(["env", "label", f"{name}:{version}", *labels])

    @staticmethod
    def list(workspace: "Workspace") -> dict[str, "Environment"]:
        """The latest version of each named environment, by name (curated ones included)."""
        items = workspace._transport.call(["env", "list", "--definitions"])
        environments: dict[str, Environment] = {}
        for item in items:
            environment = Environment._deserialize_and_add_to_object(item["definition"])
            environment.name, environment.version = item["name"], str(item["version"])
            environments[item["name"]] = environment
        return environments

    @staticmethod
    def add_private_pip_wheel(workspace: "Workspace", file_path: str, exist_ok: bool = False) -> str:
        """Stores a wheel in the workspace; returns its `strata://wheels/...` reference, usable
        as a pip package. A wheel name stored before raises unless `exist_ok`."""
        args = ["env", "add-wheel", file_path] + (["--exist-ok"] if exist_ok else [])
        return workspace._transport.call(args)["wheel"]["uri"]

    def build(self, workspace: "Workspace", image_build_compute: Any = None) -> "ImageBuildDetails":
        """Registers, then locks and builds the environment in the background (Azure builds a
        cloud image). `image_build_compute` is ignored. Wait with `wait_for_completion()`.
        For a `docker.enabled` environment the container image is made when a run or a
        deployment first needs it (or by `strata env image`), not here."""
        registered = self.register(workspace)
        return ImageBuildDetails(workspace, registered)

    def build_local(self, workspace: "Workspace", platform: str | None = None, **kwargs: Any) -> Any:
        """Registers and builds in the foreground, streaming the log; returns the build's dict."""
        details = self.build(workspace)
        details.wait_for_completion(show_output=True)
        return details._result

    def get_image_details(self, workspace: "Workspace") -> "DockerImageDetails":
        """Where the registered environment is built (`strata env image-details`), without
        building it: `pythonEnvironment.interpreterPath` and `condaEnvironmentPath` (the
        cache prefix; `None` until built), and `dockerImage` with `imageExistsInRegistry`
        for its container image in Strata's image store. An unregistered environment is
        registered first."""
        registered = self if self.version is not None else self.register(workspace)
        details = workspace._transport.call(["env", "image-details", f"{registered.name}:{registered.version}"])
        return DockerImageDetails({key: details[key] for key in ("imageExistsInRegistry", "dockerImage", "pythonEnvironment")})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Environment) and other._serialize_to_dict() == self._serialize_to_dict()

    def __repr__(self) -> str:
        return json.dumps(self._serialize_to_dict(), indent=4)


class DockerImageDetails(dict):  # type: ignore[type-arg]
    """`Environment.get_image_details()`'s result: a dict, as in azureml-core."""

    @property
    def python_environment(self) -> dict[str, Any]:
        return self["pythonEnvironment"]

    @property
    def image_exists(self) -> bool:
        return bool(self["imageExistsInRegistry"])


class ImageBuildDetails:
    """A build started by `Environment.build`. `wait_for_completion()` never raises: check
    `status` (`Running`, `Succeeded`, `Failed`) and `get_log()`, as in azureml-core."""

    def __init__(self, workspace: "Workspace", environment: Environment) -> None:
        self.environment = environment
        self._workspace = workspace
        self.status = "Running"
        self._lines: list[str] = []
        self._printed = 0
        self._result: dict[str, Any] | None = None
        self._error: str | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        def collect(line: str) -> None:
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()

        reference = f"{self.environment.name}:{self.environment.version}"
        try:
            code, result = self._workspace._transport.stream(["env", "build", reference], collect, json_result=True)
        except Exception as error:  # noqa: BLE001 - a build's failure is a status, never raised
            code, result = 2, error
        with self._cond:
            if code == 0:
                self.status, self._result = "Succeeded", result
            else:
                self.status, self._error = "Failed", str(result)
                if not any(str(result) in line for line in self._lines):
                    self._lines.append(f"error: {result}\n")
            self._cond.notify_all()

    def wait_for_completion(self, show_output: bool = True) -> "ImageBuildDetails":
        """Waits for the build, streaming its log when `show_output`; never raises."""
        out: Callable[[str], None] = printer(show_output)
        while True:
            with self._cond:
                while self._printed == len(self._lines) and self.status == "Running":
                    self._cond.wait(0.5)
                lines = self._lines[self._printed:]
                self._printed = len(self._lines)
                done = self.status != "Running"
            for line in lines:
                out(line)
            if done and self._printed == len(self._lines):
                break
        self._thread.join()
        return self

    def get_log(self) -> str:
        """The build's output so far."""
        with self._cond:
            return "".join(self._lines)

    def __repr__(self) -> str:
        return f"ImageBuildDetails(environment={self.environment.name}:{self.environment.version}, status={self.status})"
