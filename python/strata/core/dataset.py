"""`strata.core.dataset`: `azureml.core.dataset`'s names."""

from strata.compute import Dataset  # noqa: F401

__all__ = ["Dataset"]
