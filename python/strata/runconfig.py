"""`RunConfiguration` and `DockerConfiguration`.

Differences from azureml-core: `target` is `"local"` (the default), `"container"` (podman), or
the name of a target attached to the workspace (`strata compute attach NAME --slurm`); Azure
compute objects are cloud-only. The default environment, left unchanged, means
Strata's default environment (`Strata-Minimal`).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from .environment import Environment
from .exceptions import UserErrorException, cloud_only

__all__ = ["RunConfiguration", "DockerConfiguration"]

DEFAULT_ENVIRONMENT_NAME = "default-environment"


class DockerConfiguration:
    """Whether a run uses a container (`use_docker=True` → podman locally)."""

    def __init__(self, use_docker: bool | None = False, shm_size: str | None = None, shared_volumes: bool | None = None, arguments: list[str] | None = None) -> None:
        self.use_docker = bool(use_docker)
        self.shm_size = shm_size
        self.shared_volumes = shared_volumes
        self.arguments = list(arguments or [])


_TARGET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def check_target(target: Any) -> str:
    """`"local"`, `"container"`, or the name of a target attached to the workspace
    (`strata compute attach NAME --slurm`; an unknown name fails when the run is submitted).
    Azure compute objects are cloud-only."""
    if target is None:
        return "local"
    if isinstance(target, str) and _TARGET_NAME.fullmatch(target):
        return target
    name = getattr(target, "name", target)
    raise cloud_only(f"The compute target {name!r} (AmlCompute, a cluster or a VM)", "attach a Slurm cluster (`strata compute attach NAME --slurm`) and pass its name, or run locally: compute_target='local' (or 'container' for a podman container)")


class RunConfiguration:
    """Where and in which environment a script runs."""

    def __init__(self, script: str | None = None, arguments: list[Any] | None = None, framework: str | None = None, communicator: str | None = None, conda_dependencies: Any = None, _history_enabled: Any = None, _path: Any = None, _name: Any = None, command: Any = None) -> None:
        self.script = script
        self.arguments: list[Any] = list(arguments or [])
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self._target = "local"
        self.environment: Environment | None = Environment(DEFAULT_ENVIRONMENT_NAME)
        if conda_dependencies is not None and self.environment is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.environment_variables: dict[str, str] = {}
        self.docker = DockerConfiguration()
        self.max_run_duration_seconds: int | None = None
        self.node_count = 1
        self.command = command

    @property
    def target(self) -> str:
        return self._target

    @target.setter
    def target(self, value: Any) -> None:
        self._target = check_target(value)

    def _uses_default_environment(self) -> bool:
        return self.environment is None or (self.environment.name == DEFAULT_ENVIRONMENT_NAME and self.environment.version is None and self.environment == Environment(DEFAULT_ENVIRONMENT_NAME))

    def save(self, path: str | None = None, name: str | None = None, separate_environment_yaml: bool = False) -> None:
        """Writes `<path>/.azureml/<name>.runconfig` as JSON (Azure writes YAML)."""
        directory = os.path.join(path or os.getcwd(), ".azureml")
        os.makedirs(directory, exist_ok=True)
        data = {
            "script": self.script,
            "arguments": [str(a) for a in self.arguments],
            "target": self.target,
            "framework": self.framework,
            "communicator": self.communicator,
            "environmentVariables": self.environment_variables,
            "environment": self.environment._serialize_to_dict() if self.environment is not None else None,
            "docker": {"useDocker": self.docker.use_docker, "shmSize": self.docker.shm_size, "arguments": self.docker.arguments},
            "maxRunDurationSeconds": self.max_run_duration_seconds,
        }
        with open(os.path.join(directory, f"{name or 'default'}.runconfig"), "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)

    @staticmethod
    def load(path: str, name: str | None = None) -> "RunConfiguration":
        file = path
        if os.path.isdir(path):
            file = os.path.join(path, ".azureml", f"{name or 'default'}.runconfig")
        if not os.path.isfile(file):
            raise UserErrorException(f"No run configuration at {file}")
        with open(file, encoding="utf-8") as source:
            data = json.load(source)
        config = RunConfiguration(script=data.get("script"), arguments=data.get("arguments"))
        config.target = data.get("target", "local")
        config.environment_variables = dict(data.get("environmentVariables") or {})
        if data.get("environment"):
            config.environment = Environment._deserialize_and_add_to_object(data["environment"])
        docker = data.get("docker") or {}
        config.docker = DockerConfiguration(docker.get("useDocker", False), docker.get("shmSize"), arguments=docker.get("arguments"))
        config.max_run_duration_seconds = data.get("maxRunDurationSeconds")
        return config
