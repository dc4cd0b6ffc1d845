"""The agent process on the host (no container): boot exchange, endpoints, clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from osp.runtime.api import create_internal_app
from osp.runtime.bootstrap import BootstrapService, MemoryTokenStore
from tests import fakes
from tests.slots import free_port

SECRET = fakes.model_key()



@pytest.fixture(scope="module")
def internal() -> Iterator[tuple[str, BootstrapService]]:
    service = BootstrapService(MemoryTokenStore(), lambda t: {"MODEL_KEY": SECRET},
                               lambda *a: None, os.urandom(32), ttl=timedelta(seconds=60))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_internal_app(service), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", service
    server.should_exit = True
    thread.join(timeout=5)


def run_agent(url: str, extra: dict[str, str], instance: str = "i1") -> tuple[
        subprocess.Popen[str], str]:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "OSP_TENANT": "alpha",
           "OSP_INSTANCE_ID": instance, "OSP_INTERNAL_URL": url, "OSP_AGENT_PORT": str(port),
           "OSP_IMAGE_DIGEST": "sha256:" + "1" * 64, **extra}
    proc = subprocess.Popen([sys.executable, "-m", "osp.agent.main"], env=env, text=True,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(base + "/healthz", timeout=0.5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.05)
    return proc, base


def stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    return err


def test_env_token_is_traded_and_gone_from_proc_environ(
        internal: tuple[str, BootstrapService]) -> None:
    url, service = internal
    token = service.issue("alpha", "i1")
    proc, base = run_agent(url, {"OSP_BOOTSTRAP_TOKEN": token}, "i1")
    try:
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
        assert token.encode() not in environ and SECRET.encode() not in environ
        assert b"OSP_BOOTSTRAP_TOKEN" not in environ  # only the fd number remains
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert token.encode() not in cmdline
        fds = [os.readlink(p) for p in Path(f"/proc/{proc.pid}/fd").iterdir()]
        assert not any("memfd" in f for f in fds)  # the hand-over fd was closed
        assert httpx.get(base + "/status").status_code == 401
        assert httpx.get(base + "/status",
                         headers={"Authorization": "Bearer wrong"}).status_code == 401
        status = httpx.get(base + "/status", headers={
            "Authorization": f"Bearer {service.status_key('i1')}"}).json()
        assert status["secrets"] == ["MODEL_KEY"] and status["tenant"] == "alpha"
        assert status["image_digest"] == "sha256:" + "1" * 64
        assert status["uptime_s"] >= 0 and SECRET not in str(status)
        rss_kb = int(next(line.split()[1] for line in
                          Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:")))
        assert rss_kb < 60 * 1024
        assert httpx.get(base + "/nope").status_code == 404
    finally:
        err = stop(proc)
    assert token not in err and SECRET not in err
    assert proc.returncode == 0 and "agent.stopped" in err


def test_token_file_is_read_and_a_spent_token_stops_the_agent(
        internal: tuple[str, BootstrapService], tmp_path: Path) -> None:
    url, service = internal
    token = service.issue("alpha", "i2")
    token_file = tmp_path / "token"
    token_file.write_text(token)
    proc, _base = run_agent(url, {"OSP_BOOTSTRAP_TOKEN_FILE": str(token_file)}, "i2")
    try:
        assert proc.poll() is None
    finally:
        stop(proc)
    # Same token again: refused, the agent exits with EX_CONFIG and says why, without it.
    again = subprocess.run([sys.executable, "-m", "osp.agent.main"], capture_output=True,
                           text=True, timeout=30, env={
                               "OSP_TENANT": "alpha", "OSP_INSTANCE_ID": "i2",
                               "OSP_INTERNAL_URL": url, "OSP_BOOTSTRAP_TOKEN_FILE": str(token_file),
                               "PATH": os.environ.get("PATH", "")})
    assert again.returncode == 78
    assert "HTTP 401" in again.stderr and token not in again.stderr


@pytest.mark.parametrize("env", [
    {},
    {"OSP_TENANT": "alpha", "OSP_INSTANCE_ID": "i", "OSP_INTERNAL_URL": "http://127.0.0.1:9",
     "OSP_BOOTSTRAP_TOKEN_FILE": "/nonexistent/token"},
    {"OSP_TENANT": "alpha", "OSP_INSTANCE_ID": "i", "OSP_INTERNAL_URL": "http://127.0.0.1:9",
     "OSP_BOOTSTRAP_TOKEN": "x" * 43},
])
def test_agent_without_usable_bootstrap_refuses_to_run(env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "osp.agent.main"], capture_output=True,
                          text=True, timeout=30, env={"PATH": os.environ.get("PATH", ""), **env})
    assert proc.returncode == 78
    assert "agent.boot_failed" in proc.stderr and "x" * 43 not in proc.stderr
