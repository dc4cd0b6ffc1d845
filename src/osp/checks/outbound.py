"""The agent's outgoing HTTP: one way to send a request that may carry a credential.

Every call the agent container makes with a key (bootstrap exchange, the control plane's
internal API, the model provider, connected-app APIs) goes through :func:`fetch`, which

- **never follows a redirect**: urllib's default would resend the request, ``Authorization``
  header included, to whatever host the ``Location`` names; a 3xx comes back as an answer
  like any other status, for the caller to refuse;
- **ignores proxy environment variables** (``ProxyHandler({})``): an ``HTTPS_PROXY`` in the
  container's environment would otherwise route every credential through the host it names;
- **caps the answer**: at most ``max_bytes`` are read; a longer answer raises
  :class:`TooLarge` instead of filling the agent's memory.

Stdlib only: it runs inside the agent image. The ``http_get`` tool, which carries no
credential and follows redirects it checks one by one, builds its opener with
:func:`opener` so it gets the same proxy rule.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # the 3xx reaches the caller as an answer; nothing is resent


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message = field(repr=False)
    body: bytes = field(repr=False)


class OutboundError(Exception):
    """The request got no usable answer; ``str(exc)`` is one line without a credential."""


class Unreachable(OutboundError):
    """No HTTP answer: connection refused or reset, name not resolved, timed out.

    ``connect_failed``: no connection was made, so the request (and its credential) never
    left; ``timed_out``: the peer did not answer in time; ``reason``: the error's type name."""

    def __init__(self, reason: str, *, connect_failed: bool, timed_out: bool = False) -> None:
        super().__init__(f"unreachable ({reason})")
        self.reason, self.connect_failed, self.timed_out = reason, connect_failed, timed_out


class TooLarge(OutboundError):
    """The answer is longer than the caller's cap."""


def opener(*handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """An opener that never uses a proxy from the environment; redirects are refused unless
    a handler that checks each one is given (only for requests without credentials)."""
    chosen = handlers or (_RefuseRedirects(),)
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), *chosen)


_OPENER = opener()


def fetch(method: str, url: str, *, headers: Mapping[str, str] | None = None,
          body: bytes | None = None, timeout: float, max_bytes: int) -> Answer:
    """Sends one request; any HTTP status (3xx included) is an :class:`Answer`."""
    request = urllib.request.Request(  # noqa: S310 - callers pass URLs they were configured with
        url, data=body, method=method, headers=dict(headers or {}))
    try:
        try:
            with _OPENER.open(request, timeout=timeout) as resp:
                status, answer_headers, raw = resp.status, resp.headers, resp.read(max_bytes + 1)
        except urllib.error.HTTPError as exc:
            status, answer_headers = exc.code, exc.headers
            raw = exc.read(max_bytes + 1) if exc.fp is not None else b""
    except urllib.error.URLError as exc:
        reason = exc.reason
        # urllib wraps what fails before the request is sent (connect, DNS, TLS handshake).
        raise Unreachable(type(reason).__name__, connect_failed=isinstance(reason, OSError),
                          timed_out=isinstance(reason, TimeoutError)) from None
    except TimeoutError:
        raise Unreachable("TimeoutError", connect_failed=False, timed_out=True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(type(exc).__name__, connect_failed=False) from None
    except ValueError as exc:  # a malformed URL: nothing was sent, and a retry cannot help
        raise Unreachable(type(exc).__name__, connect_failed=False) from None
    if len(raw) > max_bytes:
        raise TooLarge(f"the answer is larger than {max_bytes} bytes")
    return Answer(status, answer_headers, raw)
