"""`strata.core.experiment`: `azureml.core.experiment`'s names, from `strata.experiment`."""

from strata.experiment import *  # noqa: F401,F403
from strata.experiment import __all__  # noqa: F401
