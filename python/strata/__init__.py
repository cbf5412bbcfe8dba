"""Strata's helper for scripts: log metrics and tags of the current run, find models.

    from strata import Run
    run = Run.get_context()
    run.log("accuracy", 0.93)

Inside a run started by `strata run`, metrics and tags are recorded with the run (see
`strata runs show RUN_ID`). Outside a run, `Run.get_context()` returns an offline run that
prints what it would log, as Azure ML's offline run does. This file is written by Strata;
it uses only the standard library.
"""

import json
import os
import time
import uuid

__all__ = ["Run", "Model"]


def _jsonable(value):
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


class Run:
    """The run a script executes in."""

    def __init__(self, run_id, experiment, metrics_file):
        self.id = run_id
        self.experiment = experiment
        self._metrics_file = metrics_file
        self._tags = {}

    @classmethod
    def get_context(cls):
        """The current run, or an offline run outside `strata run`."""
        run_id = os.environ.get("STRATA_RUN_ID")
        metrics_file = os.environ.get("STRATA_METRICS_FILE")
        if not run_id or not metrics_file:
            return _OfflineRun()
        return cls(run_id, os.environ.get("STRATA_EXPERIMENT", "default"), metrics_file)

    def _write(self, record):
        record["time"] = int(time.time() * 1000)
        line = json.dumps(record, allow_nan=True)
        # One write per record, so concurrent writers never interleave inside a line.
        with open(self._metrics_file, "a", encoding="utf-8") as out:
            out.write(line + "\n")

    def log(self, name, value, description=""):
        """Logs a scalar metric; logging a name again adds another value."""
        self._write({"kind": "scalar", "name": str(name), "value": _jsonable(value)})

    def log_list(self, name, value, description=""):
        """Logs a list of values under one name."""
        self._write({"kind": "list", "name": str(name), "value": [_jsonable(v) for v in value]})

    def tag(self, key, value=None):
        """Tags the run; a tag without a value is a flag."""
        self._tags[str(key)] = None if value is None else str(value)
        self._write({"kind": "tag", "name": str(key), "value": self._tags[str(key)]})

    def get_tags(self):
        return dict(self._tags)

    def __repr__(self):
        return f"Run(id={self.id!r}, experiment={self.experiment!r})"


class _OfflineRun(Run):
    """Stands in for a run outside `strata run`: prints instead of recording."""

    def __init__(self):
        super().__init__("OfflineRun_" + str(uuid.uuid4()), "offline", None)

    def _write(self, record):
        kind = record["kind"]
        if kind == "tag":
            print(f"Attempted to set tag {record['name']}: {record['value']}")
        else:
            what = "scalar metric" if kind == "scalar" else "list metric"
            print(f"Attempted to log {what} {record['name']}:\n{record['value']}")


class Model:
    """Registered models made available to a script or a scoring service."""

    @staticmethod
    def get_model_path(model_name, version=None):
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
