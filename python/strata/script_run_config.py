"""`ScriptRunConfig`: a script, its arguments, and where and in which environment it runs.

Differences from azureml-core: `compute_target` is `None`/`"local"`, `"container"`, or the name of
a target attached with `strata compute attach NAME --slurm` (a Slurm cluster); an Azure compute
object raises `CloudOnlyError`. Distributed jobs and `resume_from` are cloud-only.
"""

from __future__ import annotations

from typing import Any

from .environment import Environment
from .exceptions import cloud_only
from .runconfig import DockerConfiguration, RunConfiguration, check_target

__all__ = ["ScriptRunConfig"]


class ScriptRunConfig:
    """What `Experiment.submit` runs."""

    def __init__(self, source_directory: str, script: str | None = None, arguments: list[Any] | None = None, run_config: RunConfiguration | None = None, _telemetry_values: Any = None, compute_target: Any = None, environment: Environment | None = None, distributed_job_config: Any = None, resume_from: Any = None, max_run_duration_seconds: int | None = 2592000, command: Any = None, docker_runtime_config: DockerConfiguration | None = None) -> None:
        if distributed_job_config is not None:
            raise cloud_only("Distributed jobs (distributed_job_config)", "run one process locally, or start workers yourself inside the script")
        if resume_from is not None:
            raise cloud_only("resume_from (checkpoints in a datastore)", "pass a checkpoint path as a script argument")
        if command is not None:
            raise cloud_only("ScriptRunConfig(command=...)", "ScriptRunConfig(script=..., arguments=[...])")
        self.source_directory = source_directory
        self.script = script
        self.arguments: list[Any] = list(arguments or [])
        self.run_config = run_config or RunConfiguration()
        self.run_config.script = script
        self.run_config.arguments = self.arguments
        if compute_target is not None:
            self.run_config.target = check_target(compute_target)
        if environment is not None:
            self.run_config.environment = environment
        if docker_runtime_config is not None:
            self.run_config.docker = docker_runtime_config
        self.run_config.max_run_duration_seconds = max_run_duration_seconds

    @property
    def environment(self) -> Environment | None:
        return self.run_config.environment

    @environment.setter
    def environment(self, value: Environment | None) -> None:
        self.run_config.environment = value

    @property
    def compute_target(self) -> str:
        return self.run_config.target

    def _cli_arguments(self, workspace: Any) -> list[str]:
        """`strata run` options for this configuration; registers its environment."""
        if not self.script:
            raise ValueError("ScriptRunConfig needs a script")
        args = ["--source-dir", self.source_directory]
        environment = self.run_config.environment
        target = self.run_config.target
        on_this_machine = target in ("local", "container")
        if not self.run_config._uses_default_environment():
            assert environment is not None
            registered = environment.register(workspace)
            args += ["--env", f"{registered.name}:{registered.version}"]
            if environment.docker.enabled and on_this_machine:
                target = "container"
        if self.run_config.docker.use_docker and on_this_machine:
            target = "container"
        args += ["--target", target]
        # On a scheduler, a duration set explicitly (not Azure's 30-day default) is the job's
        # time limit.
        duration = self.run_config.max_run_duration_seconds
        if not on_this_machine and duration and duration != 2592000:
            args += ["--time", f"{int(duration)}s"]
        return [*args, "--", self.script, *[str(a) for a in self.arguments]]
