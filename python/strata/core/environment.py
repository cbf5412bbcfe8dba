"""`strata.core.environment`: `azureml.core.environment`'s names, from `strata.environment`."""

from strata.environment import *  # noqa: F401,F403
from strata.environment import __all__  # noqa: F401
from strata.conda_dependencies import CondaDependencies  # noqa: F401,E402
