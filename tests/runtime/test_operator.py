"""The operator socket (osp.runtime.operator): the CLI's lifecycle commands through the running
control plane, authenticated by file permissions and the kernel's peer credentials."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from osp.errors import OspError
from osp.platform import Platform
from osp.runtime.operator import Operations, call, serving, socket_path
from osp.runtime.wiring import RuntimeParts
from osp.tenancy.service import TenantInfo
from osp.terminal import tenant_arg
from tests.prereqs import unavailable
from tests.runtime.conftest import FakeBackend

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Short and ours: a Unix socket path holds at most 108 bytes.
    with tempfile.TemporaryDirectory(prefix="osp-op-") as d:
        os.chmod(d, 0o700)
        yield Path(d)


@pytest.fixture
def operator(fake_parts: RuntimeParts, platform: Platform, sock_dir: Path) -> Iterator[Path]:
    ops = Operations(fake_parts.service, lambda name: tenant_arg(platform, name),
                     lambda info: [f"model of {info.name} unreachable"])
    with serving(sock_dir, ops) as path:
        assert path is not None
        yield path


def test_lifecycle_commands_go_through_the_running_control_plane(
        operator: Path, sock_dir: Path, fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo], platform: Platform) -> None:
    t = make_tenant()
    # A first start builds the image in the terminal, with progress: the CLI does it itself.
    assert call(sock_dir, "start", t.name) is None
    fake_parts.service.start(t, "test", wait=False)
    fake_parts.service.stop(t, "test")

    reply = call(sock_dir, "start", t.name, wait=False)
    assert reply is not None and reply["status"]["state"] == "running"
    assert reply["warnings"] == [f"model of {t.name} unreachable"]
    assert t.name in fake_backend.running
    with platform.db.tenant(t.id) as s:
        last = platform.audit.list(s, t.id, limit=1)[0]
    assert (last.kind, last.actor) == ("runtime.started", "cli:operator")
    status = call(sock_dir, "status", t.name)
    assert status is not None and status["status"]["desired"] == "running"
    stopped = call(sock_dir, "stop", t.name)
    assert stopped is not None and t.name not in fake_backend.running


def test_bad_requests_are_one_line_errors(operator: Path, sock_dir: Path) -> None:
    with pytest.raises(OspError, match="unknown tenant"):
        call(sock_dir, "status", "no-such-tenant")
    with pytest.raises(OspError, match="invalid tenant name"):
        call(sock_dir, "status", "../etc")
    with pytest.raises(OspError, match="unknown operation"):
        call(sock_dir, "suspend", "whoever")  # only the four lifecycle commands


def test_no_control_plane_means_the_cli_opens_the_installation_itself(sock_dir: Path) -> None:
    assert call(sock_dir, "status", "anyone") is None  # no socket
    socket_path(sock_dir).write_text("")  # left where the socket of a dead `osp up` was
    assert call(sock_dir, "status", "anyone") is None


CLIENT = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print(json.dumps({"connect": type(exc).__name__})); raise SystemExit
try:
    s.sendall(json.dumps({"op": "start", "tenant": sys.argv[2], "wait": False}).encode() + b"\\n")
    answer = s.recv(65536).decode()
except OSError:  # closed by the server (reset or broken pipe): no answer either way
    answer = ""
print(json.dumps({"answer": answer}))
"""


def _as_nobody(path: Path, tenant: str) -> dict[str, str]:
    # The system interpreter: the test venv's may live under a directory nobody cannot read.
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-c", CLIENT, str(path), tenant], user=NOBODY,
                          capture_output=True, text=True, timeout=30, check=True, cwd="/")
    result: dict[str, str] = json.loads(proc.stdout)
    return result


def test_only_the_installations_owner_may_use_the_socket(
        operator: Path, sock_dir: Path, fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo]) -> None:
    if os.geteuid() != 0:
        unavailable("acting as another user needs root")
    t = make_tenant()
    fake_parts.service.start(t, "test", wait=False)
    fake_parts.service.stop(t, "test")
    mode = stat.S_IMODE(operator.stat().st_mode)
    assert mode == 0o600 and stat.S_IMODE(sock_dir.stat().st_mode) == 0o700
    # Layer one, the file system: another user cannot even connect.
    assert _as_nobody(operator, t.name) == {"connect": "PermissionError"}
    # Layer two, the kernel's peer credentials: with the file opened up by mistake, the
    # server still refuses another user before reading the request.
    os.chmod(sock_dir, 0o711)  # noqa: S103 - the mistake under test
    os.chmod(operator, 0o666)  # noqa: S103 - the mistake under test
    assert _as_nobody(operator, t.name) == {"answer": ""}
    assert t.name not in fake_backend.running
