"""`Model` (registered models, deployment) and `InferenceConfig`.

Differences from azureml-core: `tags`, `properties` and the framework are kept on the returned
object only (not stored in the workspace yet); `Model.deploy` deploys locally: a
`LocalWebservice` for `LocalWebservice.deploy_configuration()` and for
`AciWebservice.deploy_configuration()` (emulated: cores → workers, memory → the per-worker
limit). No-code deployment, `Model.package` and `Model.profile` are cloud-only.
"""

from __future__ import annotations

import os

from . import _ModelBase
from .exceptions import UserErrorException, WebserviceException, cloud_only

# `typing`, `re` and `socket` are left out at import time: `import strata` stays fast.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    from typing import Any

    from .environment import Environment
    from .webservice import Webservice
    from .workspace import Workspace

__all__ = ["Model", "InferenceConfig"]

_MODEL_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}$"
_SERVICE_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


def _matches(pattern: str, text: str) -> bool:
    import re

    return re.fullmatch(pattern, text) is not None


class _Framework:
    CUSTOM = "Custom"
    MULTI = "Multi"
    ONNX = "Onnx"
    PYTORCH = "PyTorch"
    SCIKITLEARN = "ScikitLearn"
    TENSORFLOW = "TensorFlow"


class Model(_ModelBase):
    """A registered model version; `version` is an `int`, `id` is `name:version`."""

    Framework = _Framework

    def __init__(self, workspace: "Workspace", name: str | None = None, id: str | None = None, tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None, version: int | None = None, run_id: str | None = None, model_framework: str | None = None, expand: bool = True, **kwargs: Any) -> None:
        self.workspace = workspace
        record = kwargs.get("_record")
        if record is None:
            if id is not None:
                name, _, text = id.partition(":")
                version = int(text) if text else version
            if not name:
                raise UserErrorException("Model() needs a name or an id")
            reference = name if version is None else f"{name}:{version}"
            record = workspace._transport.call(["model", "show", reference])
            record = record.get("model", record)
        self._set(record)
        self.tags = dict(tags or {})
        self.properties = dict(properties or {})
        self.model_framework = model_framework
        self.model_framework_version: str | None = None

    def _set(self, record: dict[str, Any]) -> None:
        self.name: str = record["name"]
        self.version: int = int(record["version"])
        self.id = f"{self.name}:{self.version}"
        self.description: str | None = record.get("description")
        self.run_id: str | None = record.get("runId")
        self.experiment_name: str | None = record.get("experiment")
        self.created_time: str | None = record.get("createdAt")
        self.url = f"strata://models/{self.name}/{self.version}/{record.get('path', '')}"
        self._record = record

    @classmethod
    def _from_record(cls, workspace: "Workspace", record: dict[str, Any], **extra: Any) -> "Model":
        return cls(workspace, _record=record, tags=extra.get("tags"), properties=extra.get("properties"), model_framework=extra.get("model_framework"))

    @staticmethod
    def register(workspace: "Workspace", model_path: str, model_name: str, tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None, description: str | None = None, datasets: Any = None, model_framework: str | None = None, model_framework_version: str | None = None, child_paths: Any = None, sample_input_dataset: Any = None, sample_output_dataset: Any = None, resource_configuration: Any = None) -> "Model":
        """Registers a local file or directory as the next version of `model_name`."""
        if datasets or sample_input_dataset or sample_output_dataset:
            raise cloud_only("Model datasets", "register the model without datasets; keep data files next to the code")
        if not _matches(_MODEL_NAME, model_name or ""):
            raise UserErrorException(f"Invalid model name {model_name!r}: letters, digits, `-`, `.` and `_`, starting with a letter or digit, at most 255 characters")
        args = ["model", "register", "--name", model_name, "--path", model_path]
        if description:
            args += ["--description", description]
        record = workspace._transport.call(args)
        model = Model._from_record(workspace, record, tags=tags, properties=properties, model_framework=model_framework)
        model.model_framework_version = model_framework_version
        return model

    @staticmethod
    def list(workspace: "Workspace", name: str | None = None, tags: Any = None, properties: Any = None, run_id: str | None = None, latest: bool = False, dataset_id: Any = None, expand: bool = True, page_count: int = 255, model_framework: str | None = None) -> "builtins.list[Model]":
        """Registered models, every version unless `latest`."""
        records = workspace._transport.call(["model", "list"] + ([] if latest else ["--all-versions"]))
        models = [Model._from_record(workspace, r) for r in records]
        if name is not None:
            models = [m for m in models if m.name == name]
        if run_id is not None:
            models = [m for m in models if m.run_id == run_id]
        return models

    def download(self, target_dir: str = ".", exist_ok: bool = False, exists_ok: bool | None = None) -> str:
        """Writes the model's files under `target_dir`; returns the path of the model."""
        exist_ok = exist_ok if exists_ok is None else exists_ok
        path = os.path.join(target_dir, self._record.get("path", self.name))
        if os.path.exists(path) and not exist_ok:
            raise UserErrorException(f"{path} exists (pass exist_ok=True to overwrite it)")
        self.workspace._transport.text(["model", "download", self.id, "-d", target_dir])
        return path

    @staticmethod
    def deploy(workspace: "Workspace", name: str, models: "builtins.list[Model]", inference_config: "InferenceConfig | None" = None, deployment_config: Any = None, deployment_target: Any = None, overwrite: bool = False, show_output: bool = False) -> "Webservice":
        """Deploys the models as a local web service and returns it once `init()` ran.

        `LocalWebservice.deploy_configuration(port=...)` gives a `LocalWebservice`;
        `AciWebservice.deploy_configuration(...)` an emulated `AciWebservice` (also local).
        The inference config's environment is registered first. An existing service of
        that name raises unless `overwrite=True`."""
        from .webservice import _deploy

        if deployment_target is not None:
            raise cloud_only("deployment_target (AKS and other compute)", "leave deployment_target out: services run locally")
        if inference_config is None:
            raise cloud_only("No-code deployment (Model.deploy without an InferenceConfig)", "write a score.py with init() and run() and pass InferenceConfig(entry_script='score.py')")
        if not (3 <= len(name) <= 32) or not _matches(_SERVICE_NAME, name):
            raise WebserviceException(f"Invalid service name {name!r}: 3 to 32 characters, lowercase letters, digits and `-`, starting with a letter and not ending with `-`")
        return _deploy(workspace, name, models, inference_config, deployment_config, overwrite, show_output)

    @staticmethod
    def package(*args: Any, **kwargs: Any) -> Any:
        raise cloud_only("Model.package (an image in Azure Container Registry)", "`strata env image NAME` builds the environment's OCI image; `strata deploy --container` serves from one")

    @staticmethod
    def profile(*args: Any, **kwargs: Any) -> Any:
        raise cloud_only("Model.profile", "deploy locally and time service.run() calls")

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "id": self.id, "runId": self.run_id, "description": self.description, "createdTime": self.created_time, "tags": self.tags, "properties": self.properties}

    def __repr__(self) -> str:
        return f"Model(workspace={self.workspace!r}, name={self.name}, id={self.id}, version={self.version}, tags={self.tags}, properties={self.properties})"


class InferenceConfig:
    """How a service scores: the entry script (`init()`, `run()`), its source directory and
    environment. The entry script must exist, end in `.py` and have a stem that is a Python
    identifier (azureml-core's rule)."""

    def __init__(self, entry_script: str, runtime: str | None = None, conda_file: str | None = None, extra_docker_file_steps: str | None = None, source_directory: str | None = None, enable_gpu: bool | None = None, description: str | None = None, base_image: str | None = None, base_image_registry: Any = None, cuda_version: str | None = None, environment: "Environment | None" = None) -> None:
        legacy = {"runtime": runtime, "conda_file": conda_file, "extra_docker_file_steps": extra_docker_file_steps, "enable_gpu": enable_gpu, "base_image": base_image, "cuda_version": cuda_version}
        if environment is not None and any(v is not None for v in legacy.values()):
            given = ", ".join(k for k, v in legacy.items() if v is not None)
            raise WebserviceException(f"InferenceConfig: environment cannot be combined with {given}; put them in the Environment")
        self.entry_script = entry_script
        self.source_directory = source_directory
        self.runtime = runtime
        self.conda_file = conda_file
        self.extra_docker_file_steps = extra_docker_file_steps
        self.enable_gpu = enable_gpu
        self.description = description
        self.base_image = base_image
        self.base_image_registry = base_image_registry
        self.cuda_version = cuda_version
        self.environment = environment
        self.validate_configuration()

    def _entry_path(self) -> str:
        if self.source_directory and not os.path.isabs(self.entry_script):
            return os.path.join(self.source_directory, self.entry_script)
        return self.entry_script

    def validate_configuration(self) -> None:
        """Raises `WebserviceException` for an entry script that breaks azureml-core's rule."""
        path = self._entry_path()
        stem, extension = os.path.splitext(os.path.basename(self.entry_script))
        if extension != ".py":
            raise WebserviceException(f"Invalid entry script {self.entry_script!r}: it must be a .py file")
        if not stem.isidentifier():
            raise WebserviceException(f"Invalid entry script {self.entry_script!r}: its name must be a Python identifier (letters, digits and `_`, not starting with a digit)")
        if not os.path.isfile(path):
            raise WebserviceException(f"Entry script {path!r} does not exist")
        if self.source_directory is not None and not os.path.isdir(self.source_directory):
            raise WebserviceException(f"Source directory {self.source_directory!r} does not exist")

    def _environment(self) -> "Environment | None":
        if self.environment is not None:
            return self.environment
        if self.conda_file is not None:
            from .environment import Environment

            file = os.path.join(self.source_directory, self.conda_file) if self.source_directory and not os.path.isabs(self.conda_file) else self.conda_file
            return Environment.from_conda_specification("inference-env", file)
        return None


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
