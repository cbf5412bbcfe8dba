"""`Workspace`: an embedded Strata workspace (a directory with `.strata/`) or a workspace on a
team server (`http(s)://HOST/w/NAME`).

Differences from azureml-core: a workspace is a local directory or a server URL, not an Azure
resource. `from_config` looks for the nearest `.strata/` (not `config.json`), then
`STRATA_WORKSPACE` (a directory or a URL); `subscription_id`, `resource_group` and `location` are
placeholders; `auth` is ignored (a server token comes from `strata login` or `STRATA_TOKEN`).

A server workspace is reached through the `strata` binary, which speaks the server's REST API:
the same classes, one client implementation.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ._transport import LocalCli, Transport
from .exceptions import UserErrorException, cloud_only

if TYPE_CHECKING:
    from .environment import Environment
    from .experiment import Experiment
    from .model import Model
    from .webservice import Webservice

__all__ = ["Workspace"]

WORKSPACE_DIR = ".strata"


class Workspace:
    """A workspace: environments, runs, models and services in `<path>/.strata/`."""

    def __init__(self, subscription_id: str | None = None, resource_group: str | None = None, workspace_name: str | None = None, auth: Any = None, _location: str | None = None, _disable_service_check: bool = False, _workspace_id: str | None = None, sku: str = "basic", tags: Any = None, _cloud: str = "AzureCloud", *, path: str | None = None, transport: Transport | None = None) -> None:
        if path is None:
            raise cloud_only(
                "Workspace(subscription_id, resource_group, workspace_name)",
                "Workspace.from_config() for the nearest .strata/, or Workspace(path=DIR)",
            )
        self.is_server = path.startswith(("http://", "https://"))
        self.path = path.rstrip("/") if self.is_server or "://" in path else os.path.abspath(path)
        if transport is None and not self.is_server and not os.path.isdir(os.path.join(self.path, WORKSPACE_DIR)):
            raise UserErrorException(
                f"No Strata workspace at {self.path} (no {WORKSPACE_DIR}/ there); create one with Workspace.create({self.path!r}) or `strata init`"
            )
        self._transport = transport or LocalCli(self.path)

    # -- finding and creating ------------------------------------------------------------

    @staticmethod
    def from_config(path: str | None = None, auth: Any = None, _logger: Any = None, _file_name: str | None = None) -> "Workspace":
        """The nearest workspace: `path` (default: the current directory) or a parent of it
        holding `.strata/`; else `STRATA_WORKSPACE`. Azure reads `config.json` instead."""
        start = os.path.abspath(path or os.getcwd())
        if os.path.isfile(start):
            start = os.path.dirname(start)
        directory = start
        while True:
            if os.path.isdir(os.path.join(directory, WORKSPACE_DIR)):
                return Workspace(path=directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        explicit = os.environ.get("STRATA_WORKSPACE")
        if explicit:
            return Workspace(path=explicit)
        raise UserErrorException(
            f"No Strata workspace in {start} or its parents, and STRATA_WORKSPACE is not set; "
            "create one with `strata init` or Workspace.create(path)"
        )

    @staticmethod
    def create(name: str, auth: Any = None, subscription_id: str | None = None, resource_group: str | None = None, location: str | None = None, create_resource_group: bool = True, sku: str = "basic", tags: Any = None, friendly_name: str | None = None, storage_account: Any = None, key_vault: Any = None, app_insights: Any = None, container_registry: Any = None, adb_workspace: Any = None, primary_user_assigned_identity: Any = None, cmk_keyvault: Any = None, resource_cmk_uri: Any = None, hbi_workspace: bool = False, default_cpu_compute_target: Any = None, default_gpu_compute_target: Any = None, private_endpoint_config: Any = None, private_endpoint_auto_approval: bool = True, exist_ok: bool = False, show_output: bool = True, user_assigned_identity_for_cmk_encryption: Any = None, system_datastores_auth_mode: str = "accessKey", v1_legacy_mode: Any = None) -> "Workspace":
        """Creates a workspace in directory `name` (`strata init`). The Azure arguments
        (subscription, resource group, location, ...) have no local meaning and are ignored."""
        path = os.path.abspath(name)
        if os.path.isdir(os.path.join(path, WORKSPACE_DIR)):
            if exist_ok:
                return Workspace(path=path)
            raise UserErrorException(f"A workspace exists already at {path} (pass exist_ok=True to use it)")
        os.makedirs(path, exist_ok=True)
        LocalCli(path).text(["init", path])
        return Workspace(path=path)

    @staticmethod
    def get(name: str, auth: Any = None, subscription_id: str | None = None, resource_group: str | None = None, location: str | None = None, cloud: str = "AzureCloud", id: str | None = None) -> "Workspace":
        """The workspace in directory `name`."""
        return Workspace(path=name)

    # -- properties ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The directory's name, or the server workspace's."""
        return self.path.rsplit("/", 1)[-1] if self.is_server else os.path.basename(self.path)

    @property
    def location(self) -> str:
        return "server" if self.is_server else "local"

    @property
    def resource_group(self) -> str:
        return "local"

    @property
    def subscription_id(self) -> str:
        return "local"

    def get_details(self) -> dict[str, Any]:
        """`{"name", "path", "location", "strataVersion", ...}` (Azure's has ARM fields)."""
        version = self._transport.text(["--version"]).strip().split()[-1]
        return {
            "id": self.path,
            "name": self.name,
            "path": self.path,
            "location": self.location,
            "workspaceid": self.path,
            "strataVersion": version,
        }

    @property
    def environments(self) -> dict[str, "Environment"]:
        """`Environment.list(self)`: the latest version of each name."""
        from .environment import Environment

        return Environment.list(self)

    @property
    def models(self) -> dict[str, "Model"]:
        """The latest version of each model, by name."""
        from .model import Model

        return {m.name: m for m in Model.list(self, latest=True)}

    @property
    def experiments(self) -> dict[str, "Experiment"]:
        from .experiment import Experiment

        return {e.name: e for e in Experiment.list(self)}

    @property
    def webservices(self) -> dict[str, "Webservice"]:
        from .webservice import Webservice

        return {s.name: s for s in Webservice.list(self)}

    @property
    def compute_targets(self) -> dict[str, Any]:
        """Only the local target exists."""
        return {}

    @property
    def datastores(self) -> dict[str, Any]:
        raise cloud_only("Datastores", "keep data in files next to your code; the source directory is snapshotted with each run")

    @property
    def datasets(self) -> dict[str, Any]:
        raise cloud_only("Datasets", "read files from the source directory or an absolute path in the script")

    def get_default_datastore(self) -> Any:
        raise cloud_only("Workspace.get_default_datastore()", "keep data in files next to your code; the source directory is snapshotted with each run")

    def write_config(self, path: str | None = None, file_name: str | None = None) -> None:
        """Nothing to write: `.strata/` is the configuration."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"Workspace.create(name={self.path!r}, subscription_id='local', resource_group='local')"
