"""`Experiment`: a named group of runs.

Differences from azureml-core: experiments are not created on the server; an experiment exists
once it has a run. `submit` runs locally in the background and returns at once.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Iterator

from .exceptions import UserErrorException

if TYPE_CHECKING:
    from . import Run
    from .workspace import Workspace

__all__ = ["Experiment"]

_NAME = re.compile(r"^[a-zA-Z0-9][\w-]{0,255}$")


class Experiment:
    """A named group of runs in a workspace."""

    def __init__(self, workspace: "Workspace", name: str, _skip_name_validation: bool = False, _id: Any = None, _archived_time: Any = None, _create_in_cloud: bool = True, _experiment_dto: Any = None, **kwargs: Any) -> None:
        if not _skip_name_validation and not _NAME.match(name or ""):
            raise UserErrorException(f"Invalid experiment name {name!r}: use letters, digits, `_` and `-`, starting with a letter or digit (at most 256 characters)")
        self.workspace = workspace
        self.name = name

    def submit(self, config: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> "Run":
        """Submits a `ScriptRunConfig` (or `Estimator`); returns the `Run` at once. Its
        environment is registered first (the same content gives the same version)."""
        from . import Run

        script_config = config._to_script_run_config() if hasattr(config, "_to_script_run_config") else config
        if not hasattr(script_config, "_cli_arguments"):
            raise UserErrorException(f"Experiment.submit takes a ScriptRunConfig, not {type(config).__name__}")
        options = script_config._cli_arguments(self.workspace)
        if script_config.run_config.environment_variables:
            import warnings

            warnings.warn("RunConfiguration.environment_variables are not passed to local runs yet; set them in the Environment", stacklevel=2)
        result = self.workspace._transport.call(["run", "--detach", "--experiment", self.name, *options])
        run = Run._from_record(self, result["run"])
        for key, value in (tags or {}).items():
            run.tag(key, value)
        return run

    def start_logging(self, *args: Any, outputs: str | None = "./outputs", snapshot_directory: str | None = None, **kwargs: Any) -> "Run":
        """Starts an interactive run recorded from this process (status Running). Use it as a
        context manager (Completed on exit, Failed on an exception) or call `complete()`.
        On completion the files in `outputs` (default `./outputs`) become its outputs.
        `snapshot_directory` is not snapshotted (Azure uploads it)."""
        from . import Run

        result = self.workspace._transport.call(["runs", "create", "--experiment", self.name])
        run = Run._from_record(self, result["run"])
        run._interactive = True
        run._outputs_dir = os.path.abspath(outputs) if outputs else None
        return run

    def get_runs(self, type: str | None = None, tags: Any = None, properties: Any = None, include_children: bool = False) -> Iterator["Run"]:
        """The experiment's runs, newest first."""
        from . import Run

        records = self.workspace._transport.call(["runs", "list", "--experiment", self.name])
        for record in records:
            run = Run._from_record(self, record)
            if tags is not None:
                wanted = {tags: None} if isinstance(tags, str) else dict(tags)
                have = run.get_tags()
                if not all(k in have and (v is None or have[k] == v) for k, v in wanted.items()):
                    continue
            yield run

    @staticmethod
    def list(workspace: "Workspace", experiment_name: str | None = None, view_type: str = "ActiveOnly", tags: Any = None) -> list["Experiment"]:
        """The experiments that have runs."""
        names: list[str] = []
        for record in workspace._transport.call(["runs", "list"]):
            if record["experiment"] not in names:
                names.append(record["experiment"])
        return [Experiment(workspace, n, _skip_name_validation=True) for n in sorted(names) if experiment_name in (None, n)]

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name}, Workspace: {self.workspace.name})"
