"""The one guarded connector for connections the control plane opens on a tenant's behalf.

Tenant admins choose the URLs the control plane calls (authorization servers, their
endpoints); without a guard that is server-side request forgery into loopback, the private
network and cloud metadata. A filter on the URL's *text* cannot be enough: ``127.1``,
``2130706433``, ``0x7f000001`` and ``0177.0.0.1`` are all 127.0.0.1 to the resolver, and a
public-looking name can resolve (or re-resolve, DNS rebinding) to anything. So:

* :func:`canonical_host` turns every numeric spelling ``inet_aton`` accepts into the dotted
  quad, so the text check in ``osp.oauth.client.check_endpoint`` sees the real address;
* :class:`GuardedBackend` resolves the host itself *when connecting*, refuses the connection
  when any resolved address is not a public one, and connects to the address it checked
  (TLS still verifies the certificate against the host name from the URL).

:func:`guarded_client` is the httpx client every such caller uses (``trust_env`` off, so an
environment proxy cannot route around the check; redirects are never followed by callers).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from osp.errors import InvalidInput
from osp.oauth.tools import PreparedCall, ToolFailed, Transport

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
TIMEOUT = httpx.Timeout(10.0)

# What inet_aton accepts: 1-4 parts, each decimal, octal (leading 0) or hex (0x).
_NUMERIC = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$")


class EgressRefused(InvalidInput):
    """The destination is not a public address: the control plane does not connect there."""


def as_ip(host: str) -> IPAddress | None:
    """The address a host string denotes when it is an address literal in any spelling."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not _NUMERIC.fullmatch(host):
            return None
        try:
            ip = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on a dual-stack socket
    return ip


def canonical_host(host: str) -> str:
    """Lower-case name without the trailing dot, or the address in its one standard form."""
    ip = as_ip(host)
    return str(ip) if ip is not None else host.strip().rstrip(".").lower()


def refusal(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why the control plane does not connect to ``ip`` (None: it may)."""
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    # is_global is False for private, link-local (cloud metadata), shared (100.64/10),
    # reserved, multicast and unspecified (0.0.0.0 reaches loopback on Linux) ranges.
    if not ip.is_global or ip.is_multicast:
        return "an internal address"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve the host ({type(exc).__name__})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks every address, then connects to a checked address only."""

    def __init__(self, *, allow_loopback: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_loopback = allow_loopback
        self.resolver = resolver
        self._inner = httpcore.SyncBackend()

    def checked_addresses(self, host: str, port: int) -> list[str]:
        literal = as_ip(host)
        addresses = [str(literal)] if literal is not None else self.resolver(host, port)
        if not addresses:
            raise httpcore.ConnectError("the host has no address")
        for raw in addresses:
            ip = as_ip(raw.split("%", 1)[0])
            why = "an unparseable address" if ip is None else \
                refusal(ip, allow_loopback=self.allow_loopback)
            # Fail closed on the whole name: one internal address among public ones is how a
            # rebinding name would pick its moment.
            if why is not None:
                raise EgressRefused(f"the server's host resolves to {why}; "
                                    "the control plane only calls public addresses")
        return addresses

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self.checked_addresses(host, port):
            try:
                return self._inner.connect_tcp(address, port, timeout=timeout,
                                               local_address=local_address,
                                               socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        raise EgressRefused("the control plane does not connect to local sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport (request/response mapping, error mapping) over the guarded
    backend: only the connection pool underneath is replaced."""

    def __init__(self, *, allow_loopback: bool, resolver: Resolver = system_resolver,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.backend = GuardedBackend(allow_loopback=allow_loopback, resolver=resolver)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=20, max_keepalive_connections=10, keepalive_expiry=5.0,
            network_backend=self.backend)


def guarded_client(*, allow_loopback: bool = False, resolver: Resolver = system_resolver,
                   ssl_context: ssl.SSLContext | None = None) -> httpx.Client:
    return httpx.Client(transport=GuardedTransport(allow_loopback=allow_loopback,
                                                   resolver=resolver, ssl_context=ssl_context),
                        trust_env=False, follow_redirects=False, timeout=TIMEOUT)


def client_send(http: httpx.Client, *, max_bytes: int, timeout_s: float) -> Transport:
    """A connected-app tool transport (``osp.oauth.tools.Transport``) over ``http``: the
    answer is read with a cap (``max_bytes + 1`` at most, so the caller sees "too large")."""
    def send(call: PreparedCall) -> tuple[int, bytes]:
        try:
            with http.stream(call.method, call.url, headers=call.headers, content=call.body,
                             timeout=timeout_s) as resp:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        break
                return resp.status_code, bytes(body[:max_bytes + 1])
        except httpx.HTTPError as exc:
            raise ToolFailed(f"the provider could not be reached ({type(exc).__name__})"
                             ) from None

    return send
