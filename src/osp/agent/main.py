"""The in-container agent process (``osp-agent``).

Deliberately stdlib-only: the agent is started once per tenant, so its idle memory is
multiplied by the number of tenants a host holds (goal: idle RSS <= 60 MB). The governed
chat loop of a later issue plugs in behind :class:`AgentState`.

Boot sequence (SPEC section C, secrets only at boot, only in memory):

1. Read the single-use bootstrap token. The Podman backend hands it over as a read-only
   file bind-mounted from a host tmpfs (``OSP_BOOTSTRAP_TOKEN_FILE``), so it is never in
   the container config. Engines that can only pass it through the environment set
   ``OSP_BOOTSTRAP_TOKEN``; then the process re-executes itself with a clean environment
   and hands the token over through a memfd, because deleting from ``os.environ`` does
   not clear ``/proc/<pid>/environ``.
2. Trade it once over the control plane's internal API for the tenant's secrets, the key
   the control plane will present here (``status_key``) and the key this instance
   presents to the internal API from now on (``agent_key``).
3. Keep all of it in this process's memory only; serve ``/healthz`` and ``/status``.

Nothing here ever logs a token or a secret value.
"""

from __future__ import annotations

import hmac
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from osp.checks.outbound import OutboundError, Unreachable, fetch

# Names of variables and paths, not credentials.
TOKEN_ENV = "OSP_BOOTSTRAP_TOKEN"  # noqa: S105
TOKEN_FD_ENV = "OSP_BOOTSTRAP_FD"  # noqa: S105
TOKEN_FILE_ENV = "OSP_BOOTSTRAP_TOKEN_FILE"  # noqa: S105
DEFAULT_TOKEN_FILE = "/run/osp/bootstrap/token"  # noqa: S105
RELEASE_FILE = Path("/opt/osp/release.json")
BRAND_FILE = Path("/opt/osp/brand/brand.json")  # written by `osp image build --brand DIR`
BRAND_FIELDS = ("product_name", "agent_name", "preamble")
MAX_BRAND_FIELD = 4000
EXCHANGE_PATH = "/internal/v1/bootstrap/exchange"
CONNECT_ATTEMPTS = 5  # 0.2 + 0.4 + 0.8 + 1.6 s of back-off at most
MAX_EXCHANGE_ANSWER = 1024 * 1024  # the tenant's secrets and two keys
EX_CONFIG = 78  # sysexits: configuration error; the container stops instead of running unsecured


class BootError(Exception):
    """The agent cannot obtain its secrets; it must not run without them."""


@dataclass
class AgentState:
    tenant: str
    instance_id: str
    image_digest: str
    governance_version: str
    osp_version: str
    secrets: dict[str, str] = field(repr=False)
    status_key: str = field(repr=False)
    agent_key: str = field(repr=False)  # what this instance presents to the internal API
    memory_key: bytes = field(repr=False, default=b"")  # seals /data/memory, never stored
    internal_url: str = ""
    brand: dict[str, str] = field(default_factory=dict)  # product_name, agent_name, preamble
    started: float = field(default_factory=time.monotonic)

    def status(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "instance_id": self.instance_id,
            "image_digest": self.image_digest,
            "governance_version": self.governance_version,
            "osp_version": self.osp_version,
            "brand": {k: v for k, v in self.brand.items() if k != "preamble"},
            "secrets": sorted(self.secrets),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "pid": os.getpid(),
        }


def log(event: str, **fields: object) -> None:
    """One JSON line on stderr. Callers pass names and counts, never values."""
    record = {"ts": round(time.time(), 3), "event": event, **fields}
    sys.stderr.write(json.dumps(record, sort_keys=True) + "\n")
    sys.stderr.flush()


def _reexec_without_token_env(token: str) -> None:
    """Replace this process image with one whose environment never held the token.

    ``/proc/<pid>/environ`` shows the environment the process was exec'd with; only a
    new exec clears it. The token travels through an anonymous in-memory file (memfd)
    whose descriptor number is the only thing placed in the new environment.
    """
    fd = os.memfd_create("osp-bootstrap", 0)
    os.write(fd, token.encode())
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(TOKEN_ENV)}
    env[TOKEN_FD_ENV] = str(fd)
    os.execve(sys.executable, [sys.executable, "-m", "osp.agent.main"], env)  # noqa: S606


def read_token() -> str:
    if TOKEN_ENV in os.environ:
        _reexec_without_token_env(os.environ[TOKEN_ENV])  # does not return
    if TOKEN_FD_ENV in os.environ:
        fd = int(os.environ.pop(TOKEN_FD_ENV))
        with os.fdopen(fd, "rb") as handle:
            token = handle.read().decode().strip()
    else:
        path = Path(os.environ.get(TOKEN_FILE_ENV, DEFAULT_TOKEN_FILE))
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise BootError(f"bootstrap token unreadable: {exc.strerror}") from None
    if not token:
        # An empty file means the control plane already consumed or revoked it.
        raise BootError("bootstrap token missing or already used")
    return token


def exchange(internal_url: str, token: str, tenant: str, instance_id: str) -> dict[str, Any]:
    body = json.dumps({"tenant": tenant, "instance_id": instance_id}).encode()
    for attempt in range(CONNECT_ATTEMPTS):
        # The one-time token rides in the headers: no redirect is followed, no proxy used.
        try:
            answer = fetch("POST", internal_url.rstrip("/") + EXCHANGE_PATH, body=body,
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/json"},
                           timeout=10, max_bytes=MAX_EXCHANGE_ANSWER)
        except Unreachable as exc:
            # Only a failed *connection* is retried (the token never left this process):
            # the tenant's network path can need a moment right after the container starts.
            if exc.connect_failed and attempt + 1 < CONNECT_ATTEMPTS:
                time.sleep(0.2 * 2 ** attempt)
                continue
            raise BootError(f"bootstrap exchange failed: {exc}") from None
        except OutboundError as exc:
            raise BootError(f"bootstrap exchange failed: {exc}") from None
        if answer.status >= 300:
            raise BootError(f"bootstrap exchange refused: HTTP {answer.status}")
        try:
            payload: dict[str, Any] = json.loads(answer.body)
        except ValueError:
            raise BootError("bootstrap exchange failed: the answer is not JSON") from None
        break
    if not isinstance(payload, dict) or not isinstance(payload.get("secrets"), dict) or \
            not payload.get("status_key") or not payload.get("agent_key") or \
            not _is_key(payload.get("memory_key")):
        raise BootError("bootstrap exchange returned a malformed answer")
    return payload


def _is_key(value: object) -> bool:
    # A memory key is 32 bytes as hex: without a usable one the agent cannot seal its memory
    # and must not run (it would otherwise write conversations in the clear).
    return isinstance(value, str) and len(value) == 64 and \
        all(c in "0123456789abcdef" for c in value)


def _release_info() -> dict[str, str]:
    try:
        data = json.loads(RELEASE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items()}


def read_brand(path: Path = BRAND_FILE) -> dict[str, str]:
    """The brand overlay's names and preamble; {} for an unbranded image. Only the known
    fields, as strings, each bounded (the build validated them; this is the image side)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: str(data[k])[:MAX_BRAND_FIELD] for k in BRAND_FIELDS
            if isinstance(data.get(k), str) and data[k].strip()}


def boot() -> AgentState:
    tenant = os.environ.get("OSP_TENANT", "")
    instance_id = os.environ.get("OSP_INSTANCE_ID", "")
    internal_url = os.environ.get("OSP_INTERNAL_URL", "")
    if not (tenant and instance_id and internal_url):
        raise BootError("OSP_TENANT, OSP_INSTANCE_ID and OSP_INTERNAL_URL are required")
    token = read_token()
    payload = exchange(internal_url, token, tenant, instance_id)
    del token
    release = _release_info()
    secrets = {str(k): str(v) for k, v in payload["secrets"].items()}
    return AgentState(
        tenant=tenant,
        instance_id=instance_id,
        image_digest=os.environ.get("OSP_IMAGE_DIGEST", release.get("image_digest", "")),
        governance_version=release.get("governance_version", "unknown"),
        osp_version=release.get("osp_version", "unknown"),
        secrets=secrets,
        status_key=str(payload["status_key"]),
        agent_key=str(payload["agent_key"]),
        memory_key=bytes.fromhex(str(payload["memory_key"])),
        internal_url=internal_url,
        brand=read_brand(),
    )


def make_handler(state: AgentState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "osp-agent"
        sys_version = ""

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, {"ok": True})
            elif self.path == "/status":
                presented = self.headers.get("Authorization", "").removeprefix("Bearer ")
                # Constant-time compare; an empty key never matches (fail closed).
                if not presented or not hmac.compare_digest(presented, state.status_key):
                    self._send(401, {"error": "unauthorized"})
                    return
                self._send(200, state.status())
            else:
                self._send(404, {"error": "not found"})

        def log_message(self, format: str, *args: Any) -> None:
            return  # access logs would only add noise; errors are logged by log()

    return Handler


def serve(state: AgentState, port: int) -> None:
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(state))  # noqa: S104
    server.daemon_threads = True

    def _stop(signum: int, _frame: object) -> None:
        # PID 1 ignores SIGTERM unless it installs a handler: without this, `podman stop`
        # would wait its full timeout and then SIGKILL.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log("agent.ready", tenant=state.tenant, secrets=len(state.secrets), port=port)
    server.serve_forever(poll_interval=0.5)
    log("agent.stopped", tenant=state.tenant)


def main() -> None:
    try:
        state = boot()
    except BootError as exc:
        log("agent.boot_failed", reason=str(exc))
        sys.exit(EX_CONFIG)
    # The governed server adds the chat routes to this module's handler; it stays
    # stdlib-only until the first message (see osp.agent.serve).
    from osp.agent.serve import serve as serve_governed

    serve_governed(state, int(os.environ.get("OSP_AGENT_PORT", "8080")))


if __name__ == "__main__":
    main()
