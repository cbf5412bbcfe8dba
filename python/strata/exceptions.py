"""Exceptions of the Strata Python API, named as in azureml-core (`azureml.exceptions`).

Differences from azureml-core: every error of the local transport is a `UserErrorException`
(a bad name, version or file) or a `StrataError` (anything else), both `AzureMLException`s, so
`except AzureMLException` written for Azure keeps working. Calls that only exist in the cloud
raise `CloudOnlyError`, which names the Azure feature and the local alternative.
"""

from __future__ import annotations

__all__ = [
    "AzureMLException",
    "StrataError",
    "UserErrorException",
    "WebserviceException",
    "ActivityFailedException",
    "CloudOnlyError",
    "StrataNotFound",
]


class AzureMLException(Exception):
    """The base of every exception this package raises (as in azureml-core)."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(message, *args)
        self.message = message

    def __str__(self) -> str:
        return self.message


class StrataError(AzureMLException):
    """A `strata` command failed; `exit_code`, `stderr` and `command` tell how."""

    def __init__(self, message: str, *, exit_code: int | None = None, stderr: str = "", command: list[str] | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.stderr = stderr
        self.command = command or []


class UserErrorException(StrataError):
    """The request was wrong: an unknown name or version, an invalid name, a missing file."""


class WebserviceException(AzureMLException):
    """A web service call failed (`service.run()` on a non-200 answer, a deleted service)."""

    def __init__(self, message: str, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class ActivityFailedException(AzureMLException):
    """A run ended `Failed` or `Canceled` (raised by `Run.wait_for_completion`)."""

    def __init__(self, message: str, run_id: str = "", status: str = "", error: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.error = error


class StrataNotFound(AzureMLException):
    """No `strata` binary: set `STRATA_BIN`, put `strata` on `PATH`, or install the wheel."""


class CloudOnlyError(AzureMLException, NotImplementedError):
    """A feature that only exists in Azure ML's cloud service. The message names the Azure
    feature and what to use locally instead. Also a `NotImplementedError`."""

    def __init__(self, feature: str, alternative: str) -> None:
        super().__init__(
            f"{feature} is an Azure ML cloud feature; Strata runs locally and has no equivalent. "
            f"Instead: {alternative}"
        )
        self.feature = feature
        self.alternative = alternative


def cloud_only(feature: str, alternative: str) -> CloudOnlyError:
    """The error to raise for a cloud-only call."""
    return CloudOnlyError(feature, alternative)
