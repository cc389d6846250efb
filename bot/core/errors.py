"""Errors whose message is meant for the member who caused them (shown ephemerally)."""

from __future__ import annotations


class UserFacingError(Exception):
    """Raised by services when a request cannot be done; `str(error)` is shown as it is."""


class NotFound(UserFacingError):
    pass


class Forbidden(UserFacingError):
    pass
