"""`strata.core.compute`: `azureml.core.compute`'s names, from `strata.compute`."""

from strata.compute import *  # noqa: F401,F403
from strata.compute import __all__  # noqa: F401
