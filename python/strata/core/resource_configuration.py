"""`strata.core.resource_configuration`: `azureml.core.resource_configuration`'s names."""

from strata.resource_configuration import ResourceConfiguration  # noqa: F401

__all__ = ["ResourceConfiguration"]
