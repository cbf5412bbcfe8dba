"""The client side of `strata.Run`: a submitted or interactive run, seen from a notebook.

Differences from azureml-core: statuses are Strata's (`Queued`, `Preparing`, `Running`,
`Completed`, `Failed`, `Canceled`); an interactive run's metrics are sent in batches (at the
latest on `complete()` or `get_metrics()`); `upload_file` names must be under `outputs/` or
`logs/` (a bare name goes under `outputs/`); child runs do not exist.
"""

from __future__ import annotations

import json
import os
import time

from . import _RunBase
from .exceptions import ActivityFailedException, UserErrorException, cloud_only

# `typing` is left out at run time: `import strata` stays fast (annotations are strings).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .environment import Environment
    from .experiment import Experiment
    from .model import Model
    from .workspace import Workspace

__all__ = ["Run"]

FINISHED = ("Completed", "Failed", "Canceled")
_BATCH = 100


class Run(_RunBase):
    """A run: inside a script (`Run.get_context()`), or from a client (`Experiment.submit`,
    `Experiment.start_logging`, `Run.get`)."""

    def __init__(self, experiment: Any, run_id: str, outputs: Any = None, **kwargs: Any) -> None:
        super().__init__(experiment, run_id, outputs, **kwargs)
        self._record: dict[str, Any] = kwargs.get("_record") or {}
        self._interactive = False
        self._outputs_dir: str | None = None
        self._pending: list[dict[str, Any]] = []

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def _from_record(cls, experiment: "Experiment", record: dict[str, Any]) -> "Run":
        run = cls(experiment, record["id"], _record=record)
        run._interactive = record.get("target") == "interactive"
        return run

    @staticmethod
    def get(workspace: "Workspace", run_id: str) -> "Run":
        """The run with this id."""
        from .experiment import Experiment

        details = workspace._transport.call(["runs", "show", run_id])
        experiment = Experiment(workspace, details["run"]["experiment"], _skip_name_validation=True)
        return Run._from_record(experiment, details["run"])

    @property
    def _workspace(self) -> "Workspace":
        if self._metrics_file is not None or not hasattr(self._experiment, "workspace"):
            raise UserErrorException("This run is the script's own run context; the client methods need a run from Experiment.submit or Run.get")
        return self._experiment.workspace

    def _show(self) -> dict[str, Any]:
        self._flush()
        details = self._workspace._transport.call(["runs", "show", self._id])
        self._record = details["run"]
        return details

    # -- properties ------------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def display_name(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._id

    @property
    def number(self) -> int:
        return 0

    @property
    def type(self) -> str:
        return "interactive" if self._interactive else "local"

    @property
    def properties(self) -> dict[str, Any]:
        record = self._record or self._show()["run"]
        return {"target": record.get("target"), "script": record.get("script"), "environment": f"{record.get('envName')}:{record.get('envVersion')}"}

    @property
    def tags(self) -> dict[str, Any]:
        return self.get_tags()

    def get_status(self) -> str:
        if self._metrics_file is not None:
            return "Running"
        return self._show()["run"]["status"]

    def get_details(self) -> dict[str, Any]:
        """`runId`, `target`, `status`, `startTimeUtc`, `endTimeUtc`, `properties`,
        `logFiles`, ... as in azureml-core (plus `error` and `exitCode`)."""
        details = self._show()
        run = details["run"]
        logs = {f["path"]: self._log_file(run, f["path"]) for f in self._files() if f["path"].startswith("logs/")}
        result: dict[str, Any] = {
            "runId": run["id"],
            "target": run["target"],
            "status": run["status"],
            "startTimeUtc": run.get("startedAt"),
            "endTimeUtc": run.get("finishedAt"),
            "properties": self.properties,
            "inputDatasets": [],
            "outputDatasets": [],
            "runDefinition": {"script": run.get("script"), "arguments": run.get("arguments"), "environment": {"name": run.get("envName"), "version": str(run.get("envVersion"))}},
            "logFiles": logs,
            "submittedBy": os.environ.get("USER", ""),
            "exitCode": run.get("exitCode"),
        }
        if run.get("error"):
            result["error"] = {"error": {"message": run["error"]}}
        return result

    def _log_file(self, run: dict[str, Any], name: str) -> str:
        """Where to read one of the run's log files: on a server workspace the web page's
        download link (azureml-core gives a blob URL; a browser signed in to the workspace
        opens this one, and no token goes into it); on an embedded workspace the file in the
        run's directory, written there from the workspace's store when the run was
        interactive or ran elsewhere."""
        tree, _, path = name.partition("/")
        if self._workspace.is_server:
            from urllib.parse import urlencode

            return f"{self._workspace.path}/run/file?{urlencode({'id': self._id, 'tree': tree, 'path': path})}"
        local = os.path.join(run["runDir"], name)
        if not os.path.isfile(local):
            os.makedirs(os.path.dirname(local), exist_ok=True)
            self.download_file(name, local)
        return local

    # -- waiting ---------------------------------------------------------------------------

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False, raise_on_error: bool = True) -> dict[str, Any]:
        """Waits for the run to end, streaming its output when `show_output`; returns
        `get_details()`. A run that did not complete raises `ActivityFailedException` unless
        `raise_on_error=False`."""
        from ._transport import printer

        transport = self._workspace._transport
        if show_output:
            out = printer(True)
            out(f"RunId: {self._id}")
            transport.stream(["runs", "logs", self._id, "--follow"], out)
        while True:
            status = self.get_status()
            if status in FINISHED:
                break
            time.sleep(0.2)
        details = self.get_details()
        if show_output:
            printer(True)(f"\nExecution Summary\n=================\nRunId: {self._id}\nStatus: {details['status']}")
        if details["status"] != "Completed" and raise_on_error:
            error = (details.get("error") or {}).get("error", {}).get("message")
            raise ActivityFailedException(f"Run {self._id} {details['status']}" + (f": {error}" if error else ""), run_id=self._id, status=details["status"], error=error)
        return details

    # -- metrics and tags --------------------------------------------------------------------

    def _write(self, record: dict[str, Any]) -> None:
        if self._metrics_file is not None:
            super()._write(record)
            return
        if record["kind"] == "tag":
            value = record["value"]
            self._workspace._transport.text(["runs", "log", self._id, record["name"], *([] if value is None else [value]), "--tag"])
            return
        if not self._interactive:
            raise UserErrorException(f"Run {self._id} was submitted: only its script logs metrics (Run.get_context().log(...))")
        record["time"] = int(time.time() * 1000)
        self._pending.append(record)
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        lines = "".join(json.dumps(r, allow_nan=True) + "\n" for r in self._pending)
        self._pending = []
        self._experiment.workspace._transport.text(["runs", "log", self._id, "--jsonl", "-"], stdin=lines)

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None, populate: bool = False) -> dict[str, Any]:
        """`{name: value}`: a scalar for a metric logged once, a list (in logging order) for
        one logged several times; a `log_list` metric is its list."""
        grouped: dict[str, list[Any]] = {}
        for metric in self._show()["metrics"]:
            if name is not None and metric["name"] != name:
                continue
            grouped.setdefault(metric["name"], []).append(metric["value"])
        return {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}

    def get_tags(self) -> dict[str, Any]:
        if self._metrics_file is not None:
            return super().get_tags()
        return dict(self._show()["tags"])

    # -- interactive runs ------------------------------------------------------------------

    def upload_file(self, name: str, path_or_stream: Any, datastore_name: str | None = None) -> None:
        """Copies a file into the run as `name` (`outputs/...` or `logs/...`; a bare name is
        put under `outputs/`). Only interactive runs take files."""
        if datastore_name is not None:
            raise cloud_only("upload_file(datastore_name=...)", "leave datastore_name out: files go into the run")
        target = name if name.replace("./", "", 1).split("/")[0] in ("outputs", "logs") and "/" in name else f"outputs/{name}"
        if isinstance(path_or_stream, (str, os.PathLike)):
            self._workspace._transport.text(["runs", "upload", self._id, target, os.fspath(path_or_stream)])
            return
        import tempfile

        with tempfile.NamedTemporaryFile(delete=False) as temporary:
            data = path_or_stream.read()
            temporary.write(data.encode() if isinstance(data, str) else data)
        try:
            self._workspace._transport.text(["runs", "upload", self._id, target, temporary.name])
        finally:
            os.unlink(temporary.name)

    def upload_files(self, names: list[str], paths: list[str], return_artifacts: bool = False, timeout_seconds: Any = None, datastore_name: str | None = None) -> None:
        for name, path in zip(names, paths):
            self.upload_file(name, path, datastore_name)

    def _end(self, status: str, error: str | None = None) -> None:
        self._flush()
        args = ["runs", "complete", self._id, "--status", status]
        if error:
            args += ["--error", error]
        if self._outputs_dir:
            args += ["--outputs", self._outputs_dir]
        self._record = self._workspace._transport.call(args)["run"]

    def complete(self, _set_status: bool = True) -> None:
        """Ends an interactive run `Completed`, storing its metrics and `outputs/` files."""
        self._end("Completed")

    def fail(self, error_details: Any = None, error_code: Any = None, _set_status: bool = True) -> None:
        """Ends an interactive run `Failed`."""
        self._end("Failed", str(error_details) if error_details is not None else None)

    def cancel(self) -> None:
        """Cancels a run: a submitted run's script is stopped; an interactive run ends."""
        if self._interactive:
            self._end("Canceled")
        else:
            self._workspace._transport.text(["runs", "cancel", self._id])

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.complete()
        else:
            self.fail(f"{kind.__name__}: {value}")

    # -- files -----------------------------------------------------------------------------

    def _files(self) -> list[dict[str, Any]]:
        return self._workspace._transport.call(["runs", "files", self._id])["files"]

    def get_file_names(self) -> list[str]:
        """`outputs/...` and `logs/...` names of the run's files."""
        return [f["path"] for f in self._files()]

    def download_file(self, name: str, output_file_path: str | None = None, _validate_checksum: bool = False) -> None:
        """Writes one file (`outputs/model.pkl`) to `output_file_path` (a file or a
        directory; default: the file's name in the current directory)."""
        args = ["runs", "file", self._id, name]
        if output_file_path is not None:
            args += ["-o", output_file_path]
        self._workspace._transport.call(args)

    def download_files(self, prefix: str | None = None, output_directory: str | None = None, output_paths: Any = None, batch_size: int = 100, append_prefix: bool = True, timeout_seconds: Any = None) -> list[str]:
        """Writes the files whose names start with `prefix` under `output_directory`, keeping
        their names; returns the paths written."""
        written = []
        for name in self.get_file_names():
            if prefix and not name.startswith(prefix):
                continue
            relative = name if append_prefix or not prefix else name[len(prefix):].lstrip("/")
            target = os.path.join(output_directory or os.getcwd(), relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self.download_file(name, target)
            written.append(target)
        return written

    def get_all_logs(self, destination: str | None = None) -> list[str]:
        return self.download_files(prefix="logs/", output_directory=destination)

    # -- lineage ---------------------------------------------------------------------------

    def get_environment(self) -> "Environment":
        """The environment version the run used."""
        from .environment import Environment

        if self._interactive:
            raise UserErrorException(f"Run {self._id} is interactive: it ran in the calling process, not in a Strata environment")
        result = self._workspace._transport.call(["runs", "env", self._id])
        environment = Environment._deserialize_and_add_to_object(result["definition"])
        environment.name, environment.version = result["name"], str(result["version"])
        return environment

    def register_model(self, model_name: str, model_path: str | None = None, tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None, model_framework: str | None = None, model_framework_version: str | None = None, description: str | None = None, datasets: Any = None, sample_input_dataset: Any = None, sample_output_dataset: Any = None, resource_configuration: Any = None, **kwargs: Any) -> "Model":
        """Registers a model from the run's files (`outputs/model.pkl`), with the run's
        lineage; every call is a new version."""
        from .model import Model

        if datasets or sample_input_dataset or sample_output_dataset:
            raise cloud_only("Model datasets", "register the model without datasets; keep data files next to the code")
        args = ["model", "register", "--name", model_name, "--run", self._id, "--path", model_path or "outputs"]
        if description:
            args += ["--description", description]
        record = self._workspace._transport.call(args)
        return Model._from_record(self._workspace, record, tags=tags, properties=properties, model_framework=model_framework, model_framework_version=model_framework_version)

    def get_portal_url(self) -> str:
        """The run's page on a server workspace's web pages; on an embedded workspace the
        run's directory (`strata ui` shows its page)."""
        if self._workspace.is_server:
            from urllib.parse import quote

            return f"{self._workspace.path}/run?id={quote(self._id)}"
        record = self._record or self._show()["run"]
        return f"file://{record.get('runDir', '')}"

    def _repr_html_(self) -> str:
        return f"<table><tr><th>Experiment</th><th>Id</th><th>Status</th></tr><tr><td>{getattr(self._experiment, 'name', self._experiment)}</td><td>{self._id}</td><td>{self._record.get('status', '')}</td></tr></table>"

