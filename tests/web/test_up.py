"""`osp up` as an operator runs it: embedded Postgres, healthz, Ctrl-C, reuse of the data dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.slots import free_port


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "OSP_DATA_DIR": str(data_dir), "OSP_INTERNAL_PORT": str(free_port()),
           "OSP_RUNTIME_PREFIX": "osptestup", "OSP_RUNTIME_POOL": "10.218.0.0/16"}
    env.pop("OSP_DATABASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "osp", "up", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_healthy(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("osp up did not become healthy")


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out, err


def _postmaster_running(data_dir: Path) -> bool:
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_serves_stops_cleanly_and_reuses_its_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "osp"
    port = free_port()
    proc = _start(data_dir, port)
    _wait_healthy(port, proc)
    assert (data_dir / "kek.json").stat().st_mode & 0o777 == 0o600
    env = {**os.environ, "OSP_DATA_DIR": str(data_dir)}
    created = subprocess.run([sys.executable, "-m", "osp", "tenant", "create", "persisted"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    out, _err = _stop(proc)
    # What a second terminal needs, ready to paste.
    assert f"export OSP_URL=http://127.0.0.1:{port}\n" in out
    assert f"export OSP_DATA_DIR={data_dir}\n" in out
    assert not _postmaster_running(data_dir)
    # Stopping anchored the trails' heads outside the database, the new tenant's included.
    anchors = json.loads((data_dir / "audit-anchors.json").read_text())["anchors"]
    assert (data_dir / "audit-anchors.json").stat().st_mode & 0o777 == 0o600
    assert len(anchors) >= 1

    proc = _start(data_dir, port)
    _wait_healthy(port, proc)
    listing = subprocess.run([sys.executable, "-m", "osp", "tenant", "list", "--json"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert '"persisted"' in listing.stdout
    # A service manager stops it with SIGTERM: the same clean stop, not a death by signal.
    _stop(proc, signal.SIGTERM)
    assert not _postmaster_running(data_dir)
    # Stopping anchored the trails' heads outside the database, the new tenant's included.
    anchors = json.loads((data_dir / "audit-anchors.json").read_text())["anchors"]
    assert (data_dir / "audit-anchors.json").stat().st_mode & 0o777 == 0o600
    assert len(anchors) >= 1
