"""`strata.core.compute_target`: `azureml.core.compute_target`'s names."""

from strata.compute import ComputeTargetException, ComputeTarget  # noqa: F401

__all__ = ["ComputeTargetException", "ComputeTarget"]
