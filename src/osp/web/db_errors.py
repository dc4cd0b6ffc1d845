"""Database and encoding failures mapped to a 4xx or 503 at the edge, never a 500.

The input models already refuse what cannot be stored (``osp.inputs``); this is the net for
whatever reaches the database anyway: a value it refuses is the client's problem (422), a
clash with existing data a conflict (409), and a database that is down, restarting or out
of connections is unavailable for now (503). The answer names the kind of failure only:
the driver's message can quote the submitted value.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa

from osp.logs import get_logger

log = get_logger("osp.web")


def db_error_answer(error: Exception) -> tuple[int, str]:
    cause = getattr(error, "orig", None) or error.__cause__
    if isinstance(error, UnicodeError) or isinstance(cause, UnicodeError) or \
            isinstance(error, sa.DataError) or \
            (isinstance(error, sa.StatementError) and isinstance(cause, ValueError)):
        return 422, "a value could not be stored (invalid characters or out of range)"
    if isinstance(error, sa.IntegrityError):
        return 409, "the request conflicts with existing data"
    return 503, "the database is unavailable right now; try again shortly"


def install_db_error_handlers(app: FastAPI) -> None:
    async def _answer(request: Request, error: Exception) -> JSONResponse:
        status, message = db_error_answer(error)
        log.warning("request_failed_at_database", path=request.url.path, status=status,
                    error_type=type(error).__name__)
        return JSONResponse({"error": message}, status_code=status)

    # SQLAlchemyError covers the driver's errors (wrapped), pool time-outs and lost
    # connections; UnicodeError a lone surrogate that slipped past the models.
    app.add_exception_handler(sa.SQLAlchemyError, _answer)
    app.add_exception_handler(UnicodeError, _answer)
