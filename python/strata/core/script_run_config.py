"""`strata.core.script_run_config`: `azureml.core.script_run_config`'s names, from `strata.script_run_config`."""

from strata.script_run_config import *  # noqa: F401,F403
from strata.script_run_config import __all__  # noqa: F401
