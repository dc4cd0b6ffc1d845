"""Domain errors: each carries a one-line, user-facing reason and says what *kind* of failure
it is. How a kind is shown (an HTTP status, a CLI exit code) is decided only at the edges
(``osp.web.app``, ``osp.cli``); services never speak HTTP."""

from __future__ import annotations


class OspError(Exception):
    """A request the platform cannot carry out as asked (the generic kind)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(OspError):
    """The input itself is wrong; sending it again will not help."""


class NotFound(OspError):
    """No such thing (or one the caller may not know exists)."""


class Conflict(OspError):
    """The request clashes with the current state (already exists, already decided ...)."""


class Unauthorized(OspError):
    """The caller did not prove who they are."""


class Forbidden(OspError):
    """The caller is known but may not do this."""


class Throttled(OspError):
    """Too many attempts or too much at once; try again later."""


class Unavailable(OspError):
    """Something the platform depends on (database, container engine, key service, an
    agent) is down or unreachable. Nothing was decided; try again later. An outage is
    reported as this, never as "not found" or as tampering."""


class UpstreamFailed(OspError):
    """A service the platform called (model provider, authorization server, connected
    app) answered with an error or with nonsense."""


class Misconfigured(OspError):
    """The installation's own configuration or data files are invalid."""


class IntegrityFailure(OspError):
    """Stored data failed an integrity check (tampered, moved or wrong key). Never ignored."""
