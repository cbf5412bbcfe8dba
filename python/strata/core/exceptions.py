"""`strata.core.exceptions`: `azureml.core.exceptions`'s names, from `strata.exceptions`."""

from strata.exceptions import *  # noqa: F401,F403
from strata.exceptions import __all__  # noqa: F401
