"""Failures the domain reports, in its own words: no HTTP here.

Each kind names what went wrong, not how to say it over HTTP; service/core/errors.py maps every
kind to one status. `code` is the machine-readable contract with clients and `message` is for
people: both reach the client unchanged, so raise them worded for the client.
"""

from __future__ import annotations

from typing import Any

from service.core.quota import Quota


class ServiceError(Exception):
    """Base of the failures a client can act on. Raise a kind below, not this."""

    def __init__(
        self, code: str, message: str, *, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class Unsupported(ServiceError):
    """The request asks for something this deployment doesn't offer."""


class Invalid(ServiceError):
    """Well-formed, but breaks a rule: a value out of range, a file too large, the wrong kind."""


class TooLarge(ServiceError):
    """The request carries more than a limit allows (refused while it is still arriving)."""


class UnsupportedMediaType(ServiceError):
    """The content is of a kind this endpoint doesn't take (decided from the bytes themselves)."""


class Unauthenticated(ServiceError):
    """No usable credentials. `challenge` tells the client how to authenticate (RFC 6750)."""

    def __init__(self, code: str, message: str, *, challenge: str | None = None) -> None:
        super().__init__(code, message)
        self.challenge = challenge


class Forbidden(ServiceError):
    """The caller is known and may not do this."""


class NotFound(ServiceError):
    """No such thing, or nothing the caller may know exists."""


class Conflict(ServiceError):
    """The current state doesn't allow it: it already exists, or isn't ready yet."""


class Unavailable(ServiceError):
    """A dependency (database, storage, queue, provider) isn't answering, or the service is
    shedding load; a retry may succeed, after `retry_after` seconds when that is known."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class RateLimited(ServiceError):
    """Over a rate limit; `quota` says which and when the next request is allowed."""

    def __init__(self, code: str, message: str, *, quota: Quota) -> None:
        super().__init__(code, message)
        self.quota = quota
