"""`osp model serve`: the real llama.cpp server over the bundled SmolLM2 model, through the
real CLI, answering an OpenAI-style chat request only with its key."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from osp.errors import InvalidInput, Misconfigured
from osp.localmodel.server import KEY_FILE, ServerOptions, api_key, bundled_model, running
from tests.prereqs import unavailable
from tests.slots import free_port


def _installed() -> Path:
    try:
        return bundled_model()
    except Misconfigured as exc:
        unavailable(exc.message)


def test_the_bundled_model_is_a_gguf_file_installed_from_the_package_registry() -> None:
    model = _installed()
    with model.open("rb") as f:
        assert f.read(4) == b"GGUF"
    assert model.stat().st_size > 50_000_000


def test_the_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    key = api_key(tmp_path)
    assert len(key) >= 32 and api_key(tmp_path) == key
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_a_busy_port_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    _installed()
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InvalidInput, match="--port"), \
                running(ServerOptions(tmp_path, port, host="127.0.0.1")):
            pass


def _chat(port: int, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", headers=headers,
                      json={"model": "smollm2-135m-instruct", "max_tokens": 24,
                            "messages": [{"role": "user", "content": "Say hello."}]},
                      timeout=300)  # a busy 2-core machine: prompt eval can take long


def test_osp_model_serve_answers_a_chat_request_only_with_its_key(tmp_path: Path) -> None:
    _installed()
    port = free_port()
    env = {**os.environ, "OSP_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "osp", "model", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()  # printed once the server answers
        assert "local model smollm2-135m-instruct on port" in banner, proc.stderr
        key = (tmp_path / KEY_FILE).read_text()
        # The key is on no command line (every local user can read those).
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    assert key.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue

        assert _chat(port, None).status_code == 401
        assert _chat(port, "wrong-" + key).status_code == 401
        r = _chat(port, key)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"].strip()

        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # Ctrl-C stops the model server with the command: nothing listens any more.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
        except httpx.HTTPError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the model server outlived `osp model serve`")


@pytest.mark.parametrize("when", ["serving", "starting"])
def test_osp_up_local_model_serves_it_and_stops_it_on_ctrl_c(tmp_path: Path, when: str) -> None:
    """Ctrl-C stops `osp up` cleanly (exit 0, no traceback) both once it serves and while
    it is still starting (right after the model's hint, before the servers run)."""
    _installed()
    port, model_port = free_port(), free_port()
    env = {**os.environ, "OSP_DATA_DIR": str(tmp_path / "osp"), "OSP_PORT": str(port),
           "OSP_INTERNAL_PORT": str(free_port()), "OSP_MODEL_PORT": str(model_port),
           "OSP_RUNTIME_PREFIX": "osptestlm", "OSP_RUNTIME_POOL": "10.221.0.0/16"}
    env.pop("OSP_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "osp", "up", "--local-model"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        seen = ""
        deadline = time.monotonic() + 180
        while "osp tenant restart NAME" not in seen:
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, (seen, proc.stderr)
            seen += line
        assert f"--base-url http://osp-host:{model_port}/v1" in seen
        if when == "serving":
            key = (tmp_path / "osp" / KEY_FILE).read_text()
            assert _chat(model_port, key).status_code == 200
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{model_port}/v1/models", timeout=2)
