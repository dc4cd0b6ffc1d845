"""Tenant runtime benchmark: prints figures, asserts nothing.

    .venv/bin/python bench/runtime/bench_runtime.py [--rounds 10] [--tenants 100]
        [--userns auto|host]

Measures, on real Podman with the real agent image and the real bootstrap exchange
(in-memory token store, so the database is not what is timed):

* cold start to healthy: create network/volume/container + start + token exchange + /healthz
* restart (new instance, new token) to healthy
* suspend (container removed) and resume to healthy
* idle memory per tenant: the agent's RSS, conmon's RSS, and the host's MemAvailable drop
* density: start N idle tenants side by side, all healthy, and extrapolate to this host

Everything runs under its own prefix (``osrb``), address pool and nft table, and is removed
at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn

from osp.runtime.api import create_internal_app
from osp.runtime.bootstrap import BootstrapService, MemoryTokenStore
from osp.runtime.interfaces import ContainerSpec
from osp.runtime.podman import PodmanBackend, PodmanSettings
from osp.runtime.wiring import agent_image_builder

CACHE_DIR = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(label: str, values: list[float], unit: str = "s") -> None:
    print(f"{label:<34} p50 {pct(values, 0.5):7.3f}{unit}  p95 {pct(values, 0.95):7.3f}{unit}"
          f"  min {min(values):7.3f}{unit}  n={len(values)}", flush=True)


def mem_available_kb() -> int:
    for row in Path("/proc/meminfo").read_text().splitlines():
        if row.startswith("MemAvailable:"):
            return int(row.split()[1])
    return 0


def rss_kb(pid: int) -> int:
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                return int(row.split()[1])
    except OSError:
        pass
    return 0


class Bench:
    def __init__(self, userns: str = "auto") -> None:
        self.image = agent_image_builder(CACHE_DIR).build(
            lambda m: print(f"  image: {m}", flush=True), reuse=True)
        self.service = BootstrapService(MemoryTokenStore(), lambda t: {"MODEL_KEY": "x" * 40},
                                        lambda *a: None, os.urandom(32),
                                        ttl=timedelta(seconds=60))
        port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_internal_app(self.service),
                                                    host="0.0.0.0", port=port,
                                                    log_level="warning"))
        threading.Thread(target=self.server.run, daemon=True).start()
        while not self.server.started:
            time.sleep(0.02)
        self.backend = PodmanBackend(PodmanSettings(prefix="osrb", pool="10.217.0.0/16",
                                                    internal_api_port=port, userns=userns))
        self.cleanup()
        self.backend.prepare()

    def spec(self, tenant: str) -> ContainerSpec:
        instance = uuid.uuid4().hex
        return ContainerSpec(tenant, self.image.image_id, self.image.governance_version,
                             instance, self.service.issue(tenant, instance))

    def healthy(self, tenant: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rt = self.backend.status(tenant)
            if rt.agent_url:
                try:
                    if httpx.get(rt.agent_url + "/healthz", timeout=0.5).status_code == 200:
                        self.backend.discard_bootstrap(tenant, rt.instance_id)
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.01)
        raise SystemExit(f"{tenant} never became healthy: {self.backend.logs(tenant)[-300:]}")

    def timed(self, action: Callable[[], object], tenant: str) -> float:
        began = time.perf_counter()
        action()
        self.healthy(tenant)
        return time.perf_counter() - began

    def pids(self, tenant: str) -> tuple[int, int]:
        name = self.backend.container_name(tenant)
        out = self.backend._podman("inspect", "--format", "{{.State.Pid}} {{.State.ConmonPid}}",
                                   name).stdout.split()
        return int(out[0]), int(out[1])

    def cleanup(self) -> None:
        for row in self.backend._json("ps", "-a", "--format", "json", "--filter",
                                      "label=osp.installation=osrb") or []:
            self.backend._podman("rm", "-f", "--time", "1", row["Id"], check=False)
        for net in self.backend._networks():
            if (net.get("labels") or {}).get("osp.installation") == "osrb":
                self.backend._podman("network", "rm", "-f", net["name"], check=False)
        self.backend._podman("volume", "prune", "-f", "--filter", "label=osp.installation=osrb",
                             check=False)
        self.backend.firewall.remove(self.backend.table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--tenants", type=int, default=100, help="0 skips the density run")
    parser.add_argument("--userns", choices=["auto", "host"], default="auto",
                        help="per-tenant user namespace (auto, the default) or none (host)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (rootful podman)")
    bench = Bench(args.userns)
    try:
        print(f"userns {args.userns}  image {bench.image.tag}  cores {os.cpu_count()}  "
              f"MemTotal {int(Path('/proc/meminfo').read_text().split()[1]) // 1024} MB",
              flush=True)
        cold, restart, suspend, resume = [], [], [], []
        for i in range(args.rounds):
            tenant = f"cold-{i}"
            cold.append(bench.timed(lambda t=tenant: bench.backend.start(bench.spec(t)), tenant))
        line("cold start to healthy", cold)
        for _ in range(args.rounds):
            restart.append(bench.timed(lambda: bench.backend.restart(bench.spec("cold-0")),
                                       "cold-0"))
        line("restart to healthy", restart)
        for _ in range(args.rounds):
            began = time.perf_counter()
            bench.backend.suspend("cold-1")
            suspend.append(time.perf_counter() - began)
            resume.append(bench.timed(lambda: bench.backend.resume(bench.spec("cold-1")),
                                      "cold-1"))
        line("suspend (container removed)", suspend)
        line("resume to healthy", resume)
        for i in range(args.rounds):
            bench.backend.remove(f"cold-{i}", purge_data=True)

        if args.tenants <= 0:
            return
        print(f"density: starting {args.tenants} idle tenants ...", flush=True)
        time.sleep(2)
        before = mem_available_kb()
        began = time.perf_counter()
        for i in range(args.tenants):
            bench.backend.start(bench.spec(f"idle-{i}"))
        for i in range(args.tenants):
            bench.healthy(f"idle-{i}")
        elapsed = time.perf_counter() - began
        time.sleep(10)  # let them settle to idle
        after = mem_available_kb()
        agent_rss, conmon_rss = [], []
        for i in range(args.tenants):
            pid, conmon = bench.pids(f"idle-{i}")
            agent_rss.append(rss_kb(pid) / 1024)
            conmon_rss.append(rss_kb(conmon) / 1024)
        ok = sum(1 for i in range(args.tenants)
                 if httpx.get(bench.backend.status(f"idle-{i}").agent_url + "/healthz",
                              timeout=2).status_code == 200)
        per_tenant_mb = (before - after) / 1024 / args.tenants
        line("idle agent RSS", agent_rss, " MB")
        line("idle conmon RSS", conmon_rss, " MB")
        print(f"{args.tenants} tenants started in {elapsed:.1f}s, {ok} healthy at once; host "
              f"MemAvailable dropped {(before - after) / 1024:.0f} MB = {per_tenant_mb:.1f} MB "
              "per tenant (agent + conmon + kernel + netns)", flush=True)
        total_mb = int(Path("/proc/meminfo").read_text().split()[1]) / 1024
        capacity = int(total_mb * 0.8 / per_tenant_mb) if per_tenant_mb > 0 else 0
        print(f"estimated idle tenants on this host (80% of RAM, memory-bound): {capacity}",
              flush=True)
    finally:
        bench.cleanup()
        bench.server.should_exit = True


if __name__ == "__main__":
    main()
