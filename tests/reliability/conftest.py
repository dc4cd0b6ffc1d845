"""A control plane in its own process, on the session's real Postgres (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from osp.config import Settings
from osp.platform import Platform
from tests.slots import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveServer:
    url: str
    port: int
    proc: subprocess.Popen[bytes]

    def rss_kib(self) -> int:
        """Resident memory of the server process now (KiB, from /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="session")
def live_server(platform: Platform, settings: Settings,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    port = free_port()
    log = (tmp_path_factory.mktemp("live") / "server.log").open("wb")
    env = {**os.environ, "OSP_DATA_DIR": str(settings.data_dir),
           "OSP_DATABASE_URL": platform.db.url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.serve_app", str(port)],
                            env=env, cwd=ROOT, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, Path(log.name).read_text()
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)
    yield LiveServer(url, port, proc)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


# The session's agent image (built once, reused by digest) for the fault suite.
from tests.agent.conftest import governed_image  # noqa: E402, F401
