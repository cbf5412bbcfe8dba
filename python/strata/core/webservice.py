"""`strata.core.webservice`: `azureml.core.webservice`'s names."""

from strata.webservice import *  # noqa: F401,F403
from strata.webservice import __all__  # noqa: F401
