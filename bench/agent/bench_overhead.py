"""Overhead OSP adds to one chat message, model time excluded, and throughput with 20 tenants.

What is measured: an HTTP client posts to ``/api/v1/tenants/{t}/messages`` on a real
``uvicorn`` control plane (token auth, message persisted, config read), which delivers over the
tenant's own bridge network to its container, where the input, dialog, retrieval and output
rails run around a model call; decisions come back and are written to the tenant's hash-chained
audit trail before the reply is returned. The model is a local OpenAI-compatible server that
answers at once; the time the agent spends waiting for it (``model_ms``, measured in the agent
around the provider call) is subtracted, so the figure is the gateway + governance +
container-hop overhead.

Run as root on a host with podman, runc, nft and debootstrap:

    python bench/agent/bench_overhead.py [--tenants 20] [--messages 200] [--per-tenant 30]
                                         [--client-cpu 1]

``--client-cpu N`` pins the load generator's processes to CPU N and this process (the
control plane) to the other CPUs, so the clients do not compete with the server's thread.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import repeat
from pathlib import Path
from typing import Any

os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/osp-runtime-{os.getuid()}")
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from osp.app import core_routers  # noqa: E402
from osp.app.agent import agent_routers, build_agent  # noqa: E402
from osp.config import Settings  # noqa: E402
from osp.identity.scopes import ROLE_SCOPES  # noqa: E402
from osp.identity.service import Principal  # noqa: E402
from osp.platform import open_platform  # noqa: E402
from osp.runtime.podman import PodmanBackend, PodmanSettings  # noqa: E402
from osp.runtime.service import FixedImage  # noqa: E402
from osp.runtime.wiring import agent_image_builder, build_runtime, internal_app  # noqa: E402
from osp.web.app import create_app  # noqa: E402

QUESTIONS = ("What are your opening hours on Saturday?", "Can you summarise our refund terms?",
             "How do I reset my password?", "Which plans do you offer for small teams?")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


class InstantModel(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"choices": [{"message": {
            "role": "assistant", "content": "Happy to help: here is a short answer."}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve(app: Any, port: int, host: str) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           lifespan="off", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def chat(client: httpx.Client, url: str, tenant: str, token: str,
         text: str) -> tuple[float, float, float]:
    """(total, model, agent) milliseconds of one message."""
    started = time.perf_counter()
    r = client.post(f"{url}/api/v1/tenants/{tenant}/messages", json={"text": text},
                    headers={"Authorization": f"Bearer {token}"}, timeout=60)
    total_ms = (time.perf_counter() - started) * 1000
    data = r.json()
    if r.status_code != 200 or data.get("status") != "answered":
        raise RuntimeError(f"{tenant}: HTTP {r.status_code} {str(data)[:200]}")
    return total_ms, float(data.get("model_ms") or 0.0), float(data.get("agent_ms") or 0.0)


def client_run(url: str, tenant: str, token: str, count: int) -> list[tuple[float, float, float]]:
    """Runs in its own process: the client must not share the server's interpreter (GIL)."""
    with httpx.Client() as client:
        return [chat(client, url, tenant, token, QUESTIONS[i % len(QUESTIONS)])
                for i in range(count)]


def pin(cpus: set[int]) -> None:
    os.sched_setaffinity(0, cpus)


def report(name: str, samples: list[tuple[float, float, float]],
           wall_s: float | None = None) -> None:
    overhead = [total - model for total, model, _agent in samples]
    inside = [agent - model for _total, model, agent in samples]
    for label, values in ((name, overhead), ("  of which inside the container", inside)):
        line = (f"{label:34} n={len(values):5}  p50={statistics.median(values):6.1f} ms  "
                f"p90={pct(values, 90):6.1f} ms  p99={pct(values, 99):6.1f} ms  "
                f"max={max(values):6.1f} ms")
        if wall_s and label == name:
            line += f"  throughput={len(values) / wall_s:6.1f} msg/s"
        print(line, flush=True)


@contextlib.contextmanager
def installation(tenants: int, stopped: int = 0, prefix: str = "osb",
                 pool: str = "10.225.0.0/16") -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """``tenants`` running tenants, then ``stopped`` more whose agents were never started."""
    cache = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))
    image = agent_image_builder(cache).build(reuse=True)
    model_port, internal_port, api_port = free_port(), free_port(), free_port()
    model = ThreadingHTTPServer(("0.0.0.0", model_port), InstantModel)
    model.daemon_threads = True
    threading.Thread(target=model.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="osp-bench-") as tmp, \
            open_platform(Settings(data_dir=Path(tmp))) as platform:
        backend = PodmanBackend(PodmanSettings(prefix=prefix, pool=pool,
                                               internal_api_port=internal_port))
        runtime = build_runtime(platform, backend=backend,
                                images=FixedImage(image.image_id, image.governance_version))
        internal = serve(internal_app(runtime), internal_port, "0.0.0.0")
        agent = build_agent(platform, runtime)
        api = serve(create_app(platform, [*core_routers(), *agent_routers(agent)]), api_port,
                    "127.0.0.1")
        made: list[tuple[str, str]] = []
        try:
            for i in range(tenants + stopped):
                t = platform.tenants.create(f"bench-{i}-{uuid.uuid4().hex[:6]}", "bench")
                with platform.db.tenant(t.id) as s:
                    platform.vault.put(s, t.id, "MODEL_API_KEY",
                                      b"fake-" + os.urandom(8).hex().encode(), "b")
                agent.settings.set_model(t.id, "openai", f"http://osp-host:{model_port}/v1",
                                         "instant", "bench")
                runtime.service.set_limits(t, "bench", host_ports=(model_port,))
                if i < tenants:
                    runtime.service.start(t, "bench")
                user = platform.identity.create_user(t, "bench@example.com",
                                                     "correct horse battery 9", "owner", "b")
                owner = Principal(t.id, user, "owner", "session", scopes=ROLE_SCOPES["owner"])
                made.append((t.name, platform.identity.create_token(owner, "b", ["chat"],
                                                                    None)[1]))
                print(f"created {t.name} ({i + 1}/{tenants + stopped})", flush=True)
            yield f"http://127.0.0.1:{api_port}", made
        finally:
            api.should_exit = True
            internal.should_exit = True
            model.shutdown()
            for rt in backend.list_tenants():
                backend.remove(rt.tenant, purge_data=True)
            backend.firewall.remove(backend.table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--messages", type=int, default=200, help="sequential, one tenant")
    parser.add_argument("--per-tenant", type=int, default=30, help="concurrent phase")
    parser.add_argument("--client-cpu", type=int, default=None,
                        help="pin the clients to this CPU, the control plane to the others")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    pinning: dict[str, Any] = {}
    if args.client_cpu is not None:
        pin(set(os.sched_getaffinity(0)) - {args.client_cpu})
        pinning = {"initializer": pin, "initargs": ({args.client_cpu},)}
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    with installation(args.tenants) as (url, tenants), \
            ProcessPoolExecutor(max_workers=len(tenants), mp_context=spawn, **pinning) as pool:
        # Warm-up: the first message of each agent loads its rails.
        list(pool.map(client_run, repeat(url), *zip(*tenants, strict=True),
                      repeat(len(QUESTIONS))))
        name, token = tenants[0]
        sequential = pool.submit(client_run, url, name, token, args.messages).result()
        print()
        report("one tenant, sequential", sequential)
        started = time.perf_counter()
        batches = pool.map(client_run, repeat(url), *zip(*tenants, strict=True),
                           repeat(args.per_tenant))
        results = [x for batch in batches for x in batch]
        report(f"{len(tenants)} tenants at once", results, time.perf_counter() - started)
        print(f"load average at end: {os.getloadavg()[0]:.2f}", flush=True)

if __name__ == "__main__":
    main()
