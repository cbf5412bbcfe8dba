"""Azure compute targets, datastores and datasets: cloud-only, each raising `CloudOnlyError`
that names the Azure feature and the local alternative."""

from __future__ import annotations

from typing import Any, NoReturn

from .exceptions import AzureMLException, cloud_only


class ComputeTargetException(AzureMLException):
    """azureml-core's compute error; Strata raises `CloudOnlyError` for compute targets."""

__all__ = ["ComputeTarget", "ComputeTargetException", "AmlCompute", "AksCompute", "ComputeInstance", "Datastore", "Dataset"]


class _CloudOnly:
    _feature = ""
    _alternative = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise cloud_only(self._feature, self._alternative)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def _raise(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise cloud_only(cls._feature, cls._alternative)

    create = _raise
    get = _raise
    list = _raise
    provisioning_configuration = _raise
    register = _raise
    register_azure_blob_container = _raise
    get_default = _raise
    get_by_name = _raise
    get_by_id = _raise
    attach_configuration = _raise
    attach = _raise


class ComputeTarget(_CloudOnly):
    _feature = "Compute targets (ComputeTarget)"
    _alternative = "run locally: ScriptRunConfig(compute_target='local') (or 'container' for podman)"


class AmlCompute(ComputeTarget):
    _feature = "AmlCompute clusters"


class AksCompute(ComputeTarget):
    _feature = "AksCompute (Azure Kubernetes Service)"
    _alternative = "deploy locally: Model.deploy(..., LocalWebservice.deploy_configuration(port=...))"


class ComputeInstance(ComputeTarget):
    _feature = "Compute instances"


class Datastore(_CloudOnly):
    _feature = "Datastores"
    _alternative = "keep data in files next to your code; the source directory is snapshotted with each run"


class Dataset(_CloudOnly):
    _feature = "Datasets"
    _alternative = "read files from the source directory or an absolute path in the script"

    class File:
        from_files = classmethod(lambda cls, *a, **k: Dataset._raise())

    class Tabular:
        from_delimited_files = classmethod(lambda cls, *a, **k: Dataset._raise())
