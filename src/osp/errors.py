"""Domain errors: each carries a one-line, user-facing reason and the HTTP status it maps to."""

from __future__ import annotations


class OspError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(OspError):
    status_code = 422


class NotFound(OspError):
    status_code = 404


class Conflict(OspError):
    status_code = 409


class Unauthorized(OspError):
    status_code = 401


class Forbidden(OspError):
    status_code = 403


class Throttled(OspError):
    status_code = 429


class IntegrityFailure(OspError):
    """Stored data failed an integrity check (tampered, moved or wrong key). Never ignored."""

    status_code = 500
