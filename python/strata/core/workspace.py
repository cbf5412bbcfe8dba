"""`strata.core.workspace`: `azureml.core.workspace`'s names, from `strata.workspace`."""

from strata.workspace import *  # noqa: F401,F403
from strata.workspace import __all__  # noqa: F401
