"""The one exception tree of Hourglass.

Every error the code raises on purpose is a subclass of `HourglassError`; its docstring is the
default message. Driver errors are translated into this tree at the store boundary, and the web
layer maps each class to one HTTP status in `web/errors.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field and why."""

    field: str
    message: str


class HourglassError(Exception):
    """Something went wrong."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (type(self).__doc__ or "error").strip()
        super().__init__(self.message)


class ConfigError(HourglassError):
    """The configuration is invalid."""


class BadRequest(HourglassError):
    """The request is invalid."""


class ValidationError(BadRequest):
    """The request body or parameters are invalid."""

    def __init__(self, errors: list[FieldError] | FieldError, message: str | None = None) -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        if message is None and self.errors:
            first = self.errors[0]
            message = f"{first.field}: {first.message}"
        super().__init__(message)

    @classmethod
    def field(cls, field: str, message: str) -> ValidationError:
        return cls(FieldError(field, message))


class Unauthorized(HourglassError):
    """Authentication is required: the session or token is missing, invalid or expired."""


class Forbidden(HourglassError):
    """The request was refused: the CSRF token is missing or does not match."""


class NotFound(HourglassError):
    """Not found."""


class Conflict(HourglassError):
    """The request conflicts with the current state."""


class PreconditionFailed(HourglassError):
    """The resource is not in a state that allows this request."""


class PayloadTooLarge(HourglassError):
    """The request body is too large."""


class RateLimited(HourglassError):
    """Too many attempts; try again later."""

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message)


class StoreUnavailable(HourglassError):
    """The store is unavailable."""


class LeaseLost(HourglassError):
    """The worker no longer holds the lease on this job."""
