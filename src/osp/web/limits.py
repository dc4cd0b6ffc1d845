"""Request body limits, enforced while the body arrives, never after it is buffered.

Without a limit one unauthenticated 400 MiB login request grew the server by more than a
GiB (the framework reads the whole body before any route can judge it). Two layers:

* :class:`BodyLimit`, ASGI middleware in front of every route: a ``Content-Length`` above
  the limit is answered 413 before a byte of the body is read; a body without one (chunked)
  is counted as it streams and refused the moment it passes the limit.
* :func:`read_capped`, for routes that read raw bytes with a *smaller* cap of their own
  (webhooks): it stops reading at the cap instead of reading everything and measuring.

A refusal is one readable line, ``413 {"error": "request body too large (limit N bytes)"}``,
and the connection is closed (the rest of the body is never read).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

DEFAULT_MAX_BODY = 4 * 1024 * 1024  # the largest legitimate body: a 2 MiB document in JSON

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing re-raises it unchanged (413, not 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large (limit {limit} bytes)")
        self.limit = limit


def declared_length(headers: Headers) -> int | None:
    """The Content-Length a request announces (None: none, or not a number)."""
    raw = headers.get("content-length")
    return int(raw) if raw is not None and raw.strip().isdigit() else None


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body
        declared = declared_length(Headers(scope=scope))
        if declared is not None and declared > limit:
            await self._refuse(send, limit)  # before reading: the body never enters memory
            return
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer here rather than raise: layers in between (BaseHTTPMiddleware,
                    # body parsing) would turn an exception into a 400 or a 500. The app is
                    # told the client left, and whatever it answers then is dropped.
                    refused = True
                    if not started:
                        await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = (b'{"error":"request body too large (limit %d bytes)"}' % limit)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body, read chunk by chunk and refused (:class:`BodyTooLarge`) as soon as it
    is longer than ``limit``: a webhook never holds more than its own cap in memory."""
    declared = declared_length(request.headers)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)
