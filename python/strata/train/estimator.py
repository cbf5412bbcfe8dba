"""`Estimator`: azureml-train-core's deprecated estimator, as a shim over `ScriptRunConfig`.

Differences from azureml-train-core: `script_params` become the argument list (`{"--lr": 0.1}`
→ `["--lr", "0.1"]`; a `None` value is a bare flag); the packages make an environment named
`estimator-env`; `use_docker=True` (the default, as in Azure) runs in a podman container, so
pass `use_docker=False` to run on this machine. Cluster options are cloud-only.
"""

from __future__ import annotations

import logging
from typing import Any

from ..conda_dependencies import CondaDependencies
from ..environment import Environment
from ..exceptions import cloud_only
from ..runconfig import DockerConfiguration, check_target
from ..script_run_config import ScriptRunConfig

__all__ = ["Estimator"]


class Estimator:
    """Deprecated in azureml: use `ScriptRunConfig`."""

    def __init__(self, source_directory: str, *, compute_target: Any = None, vm_size: str | None = None, vm_priority: str | None = None, entry_script: str | None = None, script_params: dict[str, Any] | None = None, node_count: int = 1, process_count_per_node: int = 1, distributed_backend: Any = None, distributed_training: Any = None, use_gpu: bool = False, use_docker: bool = True, custom_docker_base_image: str | None = None, custom_docker_image: str | None = None, image_registry_details: Any = None, user_managed: bool = False, conda_packages: list[str] | None = None, pip_packages: list[str] | None = None, conda_dependencies_file_path: str | None = None, pip_requirements_file_path: str | None = None, conda_dependencies_file: str | None = None, pip_requirements_file: str | None = None, environment_variables: dict[str, str] | None = None, environment_definition: Environment | None = None, inputs: Any = None, source_directory_data_store: Any = None, shm_size: str | None = None, resume_from: Any = None, max_run_duration_seconds: int | None = None, framework_version: str | None = None, _enable_optimized_mode: bool = False, _disable_validation: bool = True, _show_lint_warnings: bool = False, _show_package_warnings: bool = False) -> None:
        logging.getLogger("strata.train").warning("'Estimator' is deprecated. Please use 'ScriptRunConfig'")
        if vm_size or vm_priority or node_count != 1 or distributed_training or distributed_backend:
            raise cloud_only("Estimator cluster options (vm_size, node_count, distributed training)", "run one process locally: ScriptRunConfig(source_directory, script=...)")
        if inputs or source_directory_data_store:
            raise cloud_only("Estimator inputs from datastores", "read files from the source directory")
        check_target(compute_target)
        if environment_definition is not None:
            environment = environment_definition
        else:
            conda_file = conda_dependencies_file or conda_dependencies_file_path
            requirements = pip_requirements_file or pip_requirements_file_path
            if requirements:
                environment = Environment.from_pip_requirements("estimator-env", requirements)
            else:
                environment = Environment("estimator-env")
            if conda_file:
                environment.python.conda_dependencies = CondaDependencies(conda_file)
            deps = environment.python.conda_dependencies or CondaDependencies()
            for package in conda_packages or []:
                deps.add_conda_package(package)
            for package in pip_packages or []:
                deps.add_pip_package(package)
            environment.python.conda_dependencies = deps
            environment.python.user_managed_dependencies = user_managed
            image = custom_docker_image or custom_docker_base_image
            if image:
                environment.docker.base_image = image
            if environment_variables:
                environment._environment_variables.update(environment_variables)
        arguments: list[Any] = []
        for key, value in (script_params or {}).items():
            arguments.append(key)
            if value is not None:
                arguments.append(str(value))
        self.source_directory = source_directory
        self.entry_script = entry_script
        self.script_params = dict(script_params or {})
        self._config = ScriptRunConfig(source_directory, script=entry_script, arguments=arguments, compute_target=compute_target, environment=environment, docker_runtime_config=DockerConfiguration(use_docker=use_docker, shm_size=shm_size), max_run_duration_seconds=max_run_duration_seconds)

    @property
    def run_config(self) -> Any:
        return self._config.run_config

    def _to_script_run_config(self) -> ScriptRunConfig:
        return self._config
