"""Strata's Python package: the client API (azureml-core's names) and the in-run helper.

In a script run by Strata (or a scoring service):

    from strata import Run
    run = Run.get_context()
    run.log("accuracy", 0.93)

Inside a run started by `strata run`, metrics and tags are recorded with the run (see
`strata runs show RUN_ID`). Outside a run, `Run.get_context()` returns an offline run that
prints what it would log, as Azure ML's offline run does.

From a notebook or program, the client API drives a workspace (`docs/python.md`):

    from strata import Workspace, Environment, Experiment, ScriptRunConfig

This file is also written by Strata into every workspace (`.strata/python/strata/`) and put on
each run's PYTHONPATH, alone: it uses only the standard library, and the client classes are
loaded lazily from the other modules of the installed package when first used.
"""

from __future__ import annotations

import json
import os
import time
import uuid

# `typing` is not imported at run time (annotations stay strings): the module stays light.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Run",
    "Model",
    "Workspace",
    "Environment",
    "Experiment",
    "ScriptRunConfig",
    "RunConfiguration",
    "InferenceConfig",
    "Webservice",
    "LocalWebservice",
    "AciWebservice",
    "CondaDependencies",
    "ImageBuildDetails",
    "PythonSection",
    "DockerSection",
    "ContainerRegistry",
    "ComputeTarget",
    "Datastore",
    "Dataset",
    "VERSION",
]

VERSION = "0.1.0"
__version__ = VERSION


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if hasattr(value, "item"):  # numpy scalars
            try:
                return value.item()
            except Exception:  # noqa: BLE001 - fall back to text
                pass
        if hasattr(value, "tolist"):
            return value.tolist()
        return str(value)


class _RunBase:
    """The run a script executes in: logging metrics and tags (`Run.get_context()`)."""

    def __init__(self, experiment: Any, run_id: str, outputs: Any = None, **kwargs: Any) -> None:
        self._experiment = experiment
        self._id = run_id
        self._metrics_file = kwargs.get("_metrics_file")
        self._tags: dict[str, str | None] = {}

    @property
    def id(self) -> str:
        return self._id

    @property
    def experiment(self) -> Any:
        return self._experiment

    @classmethod
    def get_context(cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any) -> Any:
        """The current run, or an offline run outside `strata run`."""
        run_id = os.environ.get("STRATA_RUN_ID")
        metrics_file = os.environ.get("STRATA_METRICS_FILE")
        if not run_id or not metrics_file:
            if not allow_offline:
                raise RuntimeError("Not inside a Strata run (STRATA_RUN_ID is not set) and allow_offline=False")
            return _OfflineRun()
        return cls(os.environ.get("STRATA_EXPERIMENT", "default"), run_id, _metrics_file=metrics_file)

    def _write(self, record: dict[str, Any]) -> None:
        record["time"] = int(time.time() * 1000)
        line = json.dumps(record, allow_nan=True)
        # One write per record, so concurrent writers never interleave inside a line.
        with open(str(self._metrics_file), "a", encoding="utf-8") as out:
            out.write(line + "\n")

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Logs a scalar metric; logging a name again adds another value."""
        self._write({"kind": "scalar", "name": str(name), "value": _jsonable(value)})

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        """Logs a list of values under one name."""
        self._write({"kind": "list", "name": str(name), "value": [_jsonable(v) for v in value]})

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Logs one row of named values; stored as one scalar metric `name.key` per column
        (azureml-core keeps a table)."""
        for key, value in kwargs.items():
            self.log(f"{name}.{key}", value)

    def tag(self, key: str, value: Any = None) -> None:
        """Tags the run; a tag without a value is a flag."""
        self._tags[str(key)] = None if value is None else str(value)
        self._write({"kind": "tag", "name": str(key), "value": self._tags[str(key)]})

    def set_tags(self, tags: dict[str, Any]) -> None:
        for key, value in dict(tags).items():
            self.tag(key, value)

    def get_tags(self) -> dict[str, Any]:
        return dict(self._tags)

    def __repr__(self) -> str:
        experiment = getattr(self._experiment, "name", self._experiment)
        return f"Run(Experiment: {experiment}, Id: {self._id})"


class _OfflineRun(_RunBase):
    """Stands in for a run outside `strata run`: prints instead of recording."""

    def __init__(self) -> None:
        super().__init__("offline", "OfflineRun_" + str(uuid.uuid4()))

    def _write(self, record: dict[str, Any]) -> None:
        kind = record["kind"]
        if kind == "tag":
            print(f"Attempted to set tag {record['name']}: {record['value']}")
        else:
            what = "scalar metric" if kind == "scalar" else "list metric"
            print(f"Attempted to log {what} {record['name']}:\n{record['value']}")

    def complete(self, _set_status: bool = True) -> None:
        """Nothing to complete offline."""


class _ModelBase:
    """Registered models made available to a script or a scoring service."""

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Any = None) -> str:
        """The path of a model's files: `$AZUREML_MODEL_DIR/<name>/<version>/<entry>` when
        the service has several models, the model directory itself when it has one, else
        `./<name>`, as Azure ML does."""
        root = os.environ.get("AZUREML_MODEL_DIR") or os.environ.get("STRATA_MODEL_DIR")
        candidates = []
        if root:
            base = os.path.join(root, model_name)
            if not os.path.isdir(base):
                parent = os.path.dirname(os.path.normpath(root))
                if os.path.basename(parent) == model_name:
                    base = parent
            if os.path.isdir(base):
                versions = sorted((v for v in os.listdir(base) if v.isdigit()), key=int)
                if version is not None:
                    versions = [str(version)] if str(version) in versions else []
                if versions:
                    directory = os.path.join(base, versions[-1])
                    entries = os.listdir(directory)
                    candidates.append(os.path.join(directory, entries[0]) if len(entries) == 1 else directory)
        candidates.append(os.path.join(os.getcwd(), model_name))
        for candidate in candidates:
            if os.path.exists(candidate):
                return candidate
        raise FileNotFoundError(f"Model {model_name!r} not found (looked in {', '.join(candidates)})")


# The client part: present in the installed package, absent from the in-run copy.
_HERE = os.path.dirname(os.path.abspath(__file__))
_CLIENT = os.path.isfile(os.path.join(_HERE, "run.py"))

if _CLIENT:
    from .model import Model
    from .run import Run
else:
    Run = _RunBase  # type: ignore[misc,assignment]
    Model = _ModelBase  # type: ignore[misc,assignment]

_LAZY = {
    "Workspace": "workspace",
    "Environment": "environment",
    "ImageBuildDetails": "environment",
    "PythonSection": "environment",
    "DockerSection": "environment",
    "ContainerRegistry": "environment",
    "CondaDependencies": "conda_dependencies",
    "Experiment": "experiment",
    "ScriptRunConfig": "script_run_config",
    "RunConfiguration": "runconfig",
    "InferenceConfig": "model",
    "Webservice": "webservice",
    "LocalWebservice": "webservice",
    "AciWebservice": "webservice",
    "ComputeTarget": "compute",
    "Datastore": "compute",
    "Dataset": "compute",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'strata' has no attribute {name!r}")
    if not _CLIENT:
        raise ImportError(
            f"strata.{name} is part of the client API, which is not installed in this environment "
            "(only the in-run helpers Run and Model are); install it with `pip install strata`"
        )
    import importlib

    value = getattr(importlib.import_module(f"strata.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
