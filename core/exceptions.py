"""Errors raised by services; routes turn them into messages, the API into JSON."""

from __future__ import annotations


class ServiceError(Exception):
    """Bad input or a broken rule; nothing was changed.

    ``message`` is user-facing (usually a lazy translation); ``field`` names the
    form field it belongs to, if any; ``errors`` maps fields (or row numbers) to
    lists of messages for multi-error reports.
    """

    status_code = 400

    def __init__(self, message, field: str | None = None, errors: dict | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
        self.errors = errors or {}


class ConflictError(ServiceError):
    status_code = 409


class CapacityReached(ConflictError):
    """A limit (e.g. a survey link's response cap) is reached; nothing was stored."""


class PermissionDenied(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404
