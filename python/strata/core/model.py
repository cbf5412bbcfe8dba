"""`strata.core.model`: `azureml.core.model`'s names."""

from strata.model import InferenceConfig, Model  # noqa: F401

__all__ = ["Model", "InferenceConfig"]
