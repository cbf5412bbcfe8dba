"""`strata.core.runconfig`: `azureml.core.runconfig`'s names, from `strata.runconfig`."""

from strata.runconfig import *  # noqa: F401,F403
from strata.runconfig import __all__  # noqa: F401
