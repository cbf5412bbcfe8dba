"""`strata.core`: the same names as `strata`, laid out like `azureml.core`, so a port is a
rename of `azureml` to `strata`."""

from typing import Any

import strata as _strata

__all__ = list(_strata.__all__)

VERSION = _strata.VERSION
Run = _strata.Run
Model = _strata.Model


def __getattr__(name: str) -> Any:
    return getattr(_strata, name)
