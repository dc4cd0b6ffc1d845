"""The operator socket: ``osp tenant start|stop|restart|status`` through the running ``osp up``.

A command that opens the installation in its own process pays about 2 s before it does
anything (imports, the embedded Postgres, settings: docs/benchmarks.md). While ``osp up``
runs, it holds all of that already; these four commands ask it over a Unix socket instead,
and open the installation themselves only when nothing answers there.

Authentication is the file system and the kernel, no token to leak:

* the socket is created 0600 (a connect needs write permission on it), in the data
  directory, which ``osp up`` creates 0700 for the installation's owner;
* every connection's peer credentials (``SO_PEERCRED``, filled in by the kernel, not the
  client) must name the user that runs ``osp up``, or root; anyone else is refused before a
  byte of the request is read.

Whoever passes both can read the installation's database files and keys anyway: the socket
grants nothing the data directory does not. It never listens on a network.

Protocol: one JSON line each way per connection, ``{"op", "tenant", "wait"}`` ->
``{"ok": true, "status": {...}, "warnings": [...]}`` or ``{"ok": false, "error": "..."}``;
``{"ok": false, "fallback": true}`` asks the CLI to do it itself (a first start, which builds
the agent image and shows its progress in the terminal).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osp.errors import InvalidInput, OspError

if TYPE_CHECKING:
    from osp.runtime.service import RuntimeService
    from osp.tenancy.service import TenantInfo

SOCKET_NAME = "operator.sock"
OPS = ("start", "stop", "restart", "status")
MAX_REQUEST = 4096
MAX_PATH = 100  # sun_path holds 108 bytes; a longer data dir gets no socket (CLI falls back)
ACTOR = "cli:operator"  # the same actor as the in-process CLI path: the same operator

Resolve = Callable[[str], "TenantInfo"]
Warnings = Callable[["TenantInfo"], list[str]]


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


def peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, operate: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.operate = operate
        self.owner = os.geteuid()
        super().__init__(path, _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # The kernel's word on who connected: the owner of the installation, or root.
        try:
            uid = peer_uid(request)
        except OSError:
            return False
        return uid in (self.owner, 0)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        line = self.rfile.readline(MAX_REQUEST)
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            reply: dict[str, Any] = {"ok": False, "error": "malformed request"}
        else:
            try:
                reply = self.server.operate(request)
            except Exception as exc:  # one line back, never a traceback to the client
                reply = {"ok": False, "error": f"internal error ({type(exc).__name__}); "
                                               "see the `osp up` log"}
        self.wfile.write(json.dumps(reply).encode() + b"\n")


class Operations:
    """What the socket may do: the four lifecycle commands, as the operator, nothing else."""

    def __init__(self, service: RuntimeService, resolve: Resolve, warnings: Warnings) -> None:
        self.service = service
        self.resolve = resolve
        self.warnings = warnings

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        op, name, wait = request.get("op"), request.get("tenant"), request.get("wait", True)
        try:
            if op not in OPS or not isinstance(name, str) or not isinstance(wait, bool):
                raise InvalidInput("unknown operation")
            info = self.resolve(name)  # the edge: the name is resolved once, here
            warnings: list[str] = []
            if op in ("start", "restart"):
                if not self.service.repo.get(info.id).image_id:
                    # A first start may build the agent image for minutes: the CLI does it
                    # itself, with its progress in the terminal.
                    return {"ok": False, "fallback": True}
                warnings = self.warnings(info)
            if op == "start":
                status = self.service.start(info, ACTOR, wait=wait)
            elif op == "restart":
                status = self.service.restart(info, ACTOR)
            elif op == "stop":
                status = self.service.stop(info, ACTOR)
            else:
                status = self.service.status(info)
        except OspError as exc:
            return {"ok": False, "error": exc.message}
        return {"ok": True, "status": status.as_dict(), "warnings": warnings}


@contextlib.contextmanager
def serving(data_dir: Path, operate: Callable[[dict[str, Any]], dict[str, Any]]
            ) -> Iterator[Path | None]:
    """Serve the operator socket in a thread for the duration (None: no socket served)."""
    path = socket_path(data_dir)
    if len(str(path)) > MAX_PATH:
        yield None
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket of an `osp up` that died
    old = os.umask(0o177)  # created 0600: no window in which it is wider
    try:
        server = _Server(str(path), operate)
    finally:
        os.umask(old)
    thread = threading.Thread(target=server.serve_forever, name="operator-socket", daemon=True)
    thread.start()
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class ControlPlaneGone(OspError):
    """The control plane closed the connection before it answered."""


def call(data_dir: Path, op: str, tenant: str, *, wait: bool = True) -> dict[str, Any] | None:
    """Ask the running ``osp up``; None when none answers (or it asks the CLI to do it)."""
    path = socket_path(data_dir)
    if len(str(path)) > MAX_PATH:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            conn.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            return None  # no `osp up` here (or a stale socket of one that died)
        except PermissionError:
            raise OspError(f"not allowed to use {path}: run osp as the user that runs "
                           "`osp up`") from None
        conn.sendall(json.dumps({"op": op, "tenant": tenant, "wait": wait}).encode() + b"\n")
        chunks: list[bytes] = []
        while not chunks or not chunks[-1].endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                raise ControlPlaneGone("the control plane closed the connection without an "
                                       "answer (see the `osp up` log)")
            chunks.append(chunk)
    finally:
        conn.close()
    reply: dict[str, Any] = json.loads(b"".join(chunks))
    if reply.get("fallback"):
        return None
    if not reply.get("ok"):
        raise OspError(str(reply.get("error") or "refused"))
    return reply
