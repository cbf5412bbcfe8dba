"""`strata.core.conda_dependencies`: `azureml.core.conda_dependencies`'s names, from `strata.conda_dependencies`."""

from strata.conda_dependencies import *  # noqa: F401,F403
from strata.conda_dependencies import __all__  # noqa: F401
