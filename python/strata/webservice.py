"""Web services: `Webservice`, `LocalWebservice`, `AciWebservice`.

Differences from azureml-core: every service runs on this machine, served by Strata's server
with Python workers in the environment (no Docker needed). `AciWebservice` is emulated as a
local service: `cpu_cores` sets the worker count, `memory_gb` the per-worker memory limit.
Scoring URIs are `http://127.0.0.1:PORT/score`. AKS, keys and TLS are cloud-only.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from .exceptions import UserErrorException, WebserviceException, cloud_only

if TYPE_CHECKING:
    from .model import InferenceConfig, Model
    from .workspace import Workspace

__all__ = ["Webservice", "LocalWebservice", "AciWebservice", "AksWebservice", "LocalWebserviceDeploymentConfiguration", "AciServiceDeploymentConfiguration"]

_ACI_NOTE_SHOWN = False


class LocalWebserviceDeploymentConfiguration:
    """`LocalWebservice.deploy_configuration(port=None)`: a free port when `port` is None."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port


class AciServiceDeploymentConfiguration:
    """`AciWebservice.deploy_configuration(...)`, honoured locally."""

    def __init__(self, cpu_cores: float | None, memory_gb: float | None, tags: dict[str, str] | None, description: str | None, port: int | None = None) -> None:
        self.cpu_cores = cpu_cores
        self.memory_gb = memory_gb
        self.tags = dict(tags or {})
        self.description = description
        self.port = port


class Webservice:
    """A deployed service. `Webservice(workspace, name)` gives the service of that name."""

    _compute_type = "Local"

    def __new__(cls, workspace: "Workspace" = None, name: str | None = None, *args: Any, **kwargs: Any) -> "Webservice":  # type: ignore[assignment]
        if cls is Webservice and name is not None:
            return object.__new__(LocalWebservice)
        return object.__new__(cls)

    def __init__(self, workspace: "Workspace", name: str, **kwargs: Any) -> None:
        self.workspace = workspace
        self.name = name
        self._record: dict[str, Any] = kwargs.get("_record") or {}
        if not self._record:
            self._refresh()
        self.tags: dict[str, str] = kwargs.get("_tags") or {}
        self.description: str | None = kwargs.get("_description")

    def _refresh(self) -> None:
        result = self.workspace._transport.call(["service", "show", self.name])
        self._record = result["service"]
        self._record["url"] = result.get("url")

    # -- properties ------------------------------------------------------------------------

    @property
    def compute_type(self) -> str:
        return self._compute_type

    @property
    def state(self) -> str:
        """`deploying`, `running`, `failed` or `deleted` (LocalWebservice's states)."""
        return self._record.get("state", "unknown")

    @property
    def port(self) -> int:
        return int(self._record["port"])

    @property
    def scoring_uri(self) -> str:
        return f"{self._base_url()}/score"

    @property
    def swagger_uri(self) -> str:
        return f"{self._base_url()}/swagger.json"

    def _base_url(self) -> str:
        host = self._record.get("host", "127.0.0.1")
        return f"http://{host}:{self.port}"

    @property
    def models(self) -> list["Model"]:
        from .model import Model

        return [Model(self.workspace, m["name"], version=m["version"]) for m in self._record.get("models", [])]

    @property
    def environment(self) -> Any:
        from .environment import Environment

        return Environment.get(self.workspace, self._record["envName"], str(self._record["envVersion"]))

    # -- operations ------------------------------------------------------------------------

    def wait_for_deployment(self, show_output: bool = False, timeout_sec: float | None = None) -> None:
        """Deployment already waited for `init()`; raises `WebserviceException` (with the
        log) when the service is not running."""
        self._refresh()
        if show_output:
            print(f"Service {self.name}: {self.state} at {self.scoring_uri}", flush=True)
        if self.state != "running":
            raise WebserviceException(f"Service {self.name} is {self.state}: {self._record.get('error') or ''}\n{self.get_logs(num_lines=50)}")

    def run(self, input_data: Any) -> Any:
        """POSTs `input_data` (a JSON string) to the scoring URI and returns the parsed JSON;
        a non-200 answer raises `WebserviceException('Error: Scoring was unsuccessful.')`."""
        if self.state == "deleted":
            raise WebserviceException("Cannot call run() when service is deleted.")
        body = input_data if isinstance(input_data, (bytes, bytearray)) else str(input_data).encode()
        request = urllib.request.Request(self.scoring_uri, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                text = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            raise WebserviceException(f"Error: Scoring was unsuccessful. Response Code: {error.code}\nContent: {text}", status_code=error.code, body=text) from None
        except urllib.error.URLError as error:
            raise WebserviceException(f"Error: Scoring was unsuccessful. {error.reason}") from None
        if status != 200:
            raise WebserviceException(f"Error: Scoring was unsuccessful. Response Code: {status}\nContent: {text}", status_code=status, body=text)
        try:
            return json.loads(text)
        except ValueError:
            return text

    def get_logs(self, num_lines: int = 5000, raw: bool = False, init: bool = False) -> str:
        """The last `num_lines` lines of the service's log."""
        text = self.workspace._transport.text(["service", "logs", self.name])
        return "\n".join(text.splitlines()[-num_lines:])

    def reload(self, wait: bool = False) -> None:
        """Restarts the workers with fresh copies of the entry script and source directory
        (no rebuild); with `wait`, returns once every new worker ran `init()`."""
        self.workspace._transport.text(["service", "reload", self.name, "--wait" if wait else "--no-wait"])
        self._refresh()

    def update(self, models: list["Model"] | None = None, image_config: Any = None, deployment_config: Any = None, wait: bool = False, inference_config: "InferenceConfig | None" = None) -> None:
        """Deploys again under the same name with what changed (models, entry script,
        environment, configuration); the rest stays as deployed."""
        from .model import Model

        if image_config is not None:
            raise cloud_only("image_config (container images in Azure Container Registry)", "pass inference_config=InferenceConfig(...)")
        record = self._record
        if models is None:
            models = [Model(self.workspace, m["name"], version=m["version"]) for m in record.get("models", [])]
        if inference_config is None:
            inference_config = _DeployedInference(record)  # type: ignore[assignment]
        if deployment_config is None:
            config = record.get("config") or {}
            if self._compute_type == "ACI":
                deployment_config = AciServiceDeploymentConfiguration(config.get("cpuCores"), config.get("memoryGb"), self.tags, self.description, port=self.port)
            else:
                deployment_config = LocalWebserviceDeploymentConfiguration(port=self.port)
        updated = _deploy(self.workspace, self.name, models, inference_config, deployment_config, True, False)
        self._record = updated._record

    def delete(self, delete_cache: bool = True, delete_image: bool = False, delete_volume: bool = True) -> None:
        """Stops the service and frees its port; `state` becomes `deleted`."""
        self.workspace._transport.text(["service", "delete", self.name])
        self._record["state"] = "deleted"

    def deploy_to_cloud(self, name: str | None = None, deployment_config: Any = None, deployment_target: Any = None) -> "Webservice":
        raise cloud_only("deploy_to_cloud (AKS or ACI in Azure)", "keep the local service; `strata deploy --container` runs it in a podman container")

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name, "computeType": self.compute_type, "state": self.state, "scoringUri": self.scoring_uri, "port": self.port, "models": self._record.get("models", [])}

    @staticmethod
    def list(workspace: "Workspace", compute_type: str | None = None, image_name: str | None = None, image_id: str | None = None, model_name: str | None = None, model_id: str | None = None, tags: Any = None, properties: Any = None, image_digest: str | None = None) -> list["Webservice"]:
        """The workspace's services (deleted ones left out)."""
        services: list[Webservice] = []
        for item in workspace._transport.call(["service", "list"]):
            record = dict(item["service"], url=item.get("url"))
            if record.get("state") == "deleted":
                continue
            if model_name is not None and not any(m["name"] == model_name for m in record.get("models", [])):
                continue
            services.append(LocalWebservice(workspace, record["name"], _record=record))
        return services

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workspace={self.workspace!r}, name={self.name}, state={self.state}, scoring_uri={self.scoring_uri})"


class LocalWebservice(Webservice):
    """A service on this machine (azureml-core runs it in Docker; Strata natively)."""

    @staticmethod
    def deploy_configuration(port: int | None = None) -> LocalWebserviceDeploymentConfiguration:
        return LocalWebserviceDeploymentConfiguration(port=port)


class AciWebservice(Webservice):
    """Azure Container Instances, emulated by a local service."""

    _compute_type = "ACI"

    @staticmethod
    def deploy_configuration(cpu_cores: float | None = None, memory_gb: float | None = None, tags: dict[str, str] | None = None, properties: Any = None, description: str | None = None, location: str | None = None, auth_enabled: bool | None = None, ssl_enabled: bool | None = None, enable_app_insights: bool | None = None, ssl_cert_pem_file: str | None = None, ssl_key_pem_file: str | None = None, ssl_cname: str | None = None, dns_name_label: str | None = None, primary_key: str | None = None, secondary_key: str | None = None, collect_model_data: bool | None = None, cmk_vault_base_url: str | None = None, cmk_key_name: str | None = None, cmk_key_version: str | None = None, vnet_name: str | None = None, subnet_name: str | None = None) -> AciServiceDeploymentConfiguration:
        """Cores become the worker count, memory the per-worker limit; values ≤ 0 raise."""
        for label, value in (("cpu_cores", cpu_cores), ("memory_gb", memory_gb)):
            if value is not None and value <= 0:
                raise WebserviceException(f"Invalid configuration, {label} must be greater than zero.")
        if auth_enabled:
            raise cloud_only("Key authentication for ACI (auth_enabled=True)", "leave auth_enabled out: local services listen on 127.0.0.1 only")
        if ssl_enabled or ssl_cert_pem_file or ssl_key_pem_file:
            raise cloud_only("TLS for ACI (ssl_enabled)", "leave ssl_enabled out; put a TLS proxy in front of the local service if needed")
        if vnet_name or subnet_name or cmk_vault_base_url:
            raise cloud_only("ACI virtual networks and customer-managed keys", "leave them out: the service is local")
        return AciServiceDeploymentConfiguration(cpu_cores, memory_gb, tags, description)


class AksWebservice(Webservice):
    """Azure Kubernetes Service: cloud-only."""

    _compute_type = "AKS"

    @staticmethod
    def deploy_configuration(*args: Any, **kwargs: Any) -> Any:
        raise cloud_only("AksWebservice (Azure Kubernetes Service)", "LocalWebservice.deploy_configuration(port=...) for a local service")


class _DeployedInference:
    """The entry script, source directory and environment a service was deployed with."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.entry_script = record["entryScript"]
        self.source_directory = record.get("sourceDir")
        self.reference = f"{record['envName']}:{record['envVersion']}"


def _deploy(workspace: "Workspace", name: str, models: list["Model"], inference_config: Any, deployment_config: Any, overwrite: bool, show_output: bool) -> Webservice:
    """`strata deploy NAME ... --json`, after registering the environment."""
    from .model import free_port

    global _ACI_NOTE_SHOWN
    if not overwrite:
        existing = [s for s in Webservice.list(workspace) if s.name == name]
        if existing:
            raise WebserviceException(f"A service named {name!r} exists already (state {existing[0].state}); pass overwrite=True, or use service.update()")
    if not models:
        raise UserErrorException("Model.deploy needs at least one model")
    args = ["deploy", name]
    for model in models:
        args += ["--model", f"{model.name}:{model.version}"]
    if isinstance(inference_config, _DeployedInference):
        args += ["--entry-script", inference_config.entry_script, "--env", inference_config.reference]
        if inference_config.source_directory:
            args += ["--source-dir", inference_config.source_directory]
    else:
        args += ["--entry-script", inference_config._entry_path()]
        if inference_config.source_directory:
            args += ["--source-dir", inference_config.source_directory]
        environment = inference_config._environment()
        if environment is not None:
            registered = environment.register(workspace)
            args += ["--env", f"{registered.name}:{registered.version}"]
    cls: type[Webservice] = LocalWebservice
    tags: dict[str, str] = {}
    description = None
    if deployment_config is None or isinstance(deployment_config, AciServiceDeploymentConfiguration):
        config = deployment_config or AciServiceDeploymentConfiguration(None, None, None, None)
        cls, tags, description = AciWebservice, config.tags, config.description
        if not _ACI_NOTE_SHOWN:
            print("note: Azure Container Instances is emulated by a local service (cpu_cores → workers, memory_gb → the per-worker memory limit)", file=sys.stderr)
            _ACI_NOTE_SHOWN = True
        if config.cpu_cores is not None:
            args += ["--cpu-cores", str(config.cpu_cores)]
        if config.memory_gb is not None:
            args += ["--memory-gb", str(config.memory_gb)]
        port = config.port
    elif isinstance(deployment_config, LocalWebserviceDeploymentConfiguration):
        port = deployment_config.port
    else:
        raise cloud_only(f"Deployment configuration {type(deployment_config).__name__}", "LocalWebservice.deploy_configuration(port=...) or AciWebservice.deploy_configuration(...)")
    args += ["--port", str(port or free_port())]
    if show_output:
        code, result = workspace._transport.stream(args, lambda line: print(line, end="", flush=True), json_result=True)
        if code != 0:
            raise WebserviceException(f"Deploying {name} failed: {result}")
    else:
        try:
            result = workspace._transport.call(args)
        except UserErrorException as error:
            raise WebserviceException(f"Deploying {name} failed: {error}\n{error.stderr}") from None
    record = dict(result["service"], url=result.get("url"))
    return cls(workspace, name, _record=record, _tags=tags, _description=description)
