"""`strata.core.datastore`: `azureml.core.datastore`'s names."""

from strata.compute import Datastore  # noqa: F401

__all__ = ["Datastore"]
