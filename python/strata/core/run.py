"""`strata.core.run`: `azureml.core.run`'s names."""

from strata import Run  # noqa: F401

__all__ = ["Run"]
