"""In-process timing of `RuntimeService.start` of a stopped tenant, phase by phase.

Used by ``bench_start.py`` (it sets the installation's environment first): opens the
installation in this process once, then per run stops the tenant (not timed) and times
``service.start(info, ..., wait=True)`` to healthy. Every podman call, the firewall load,
the image checks, the token issue and each health poll is timed by wrapping the method
that does it, so the figures add up to the start (the rest is "other": database writes,
audit, Python). The agent's own boot (container start to its ``agent.ready`` log line) is
read from the engine's state and the container log.
"""

from __future__ import annotations

import functools
import json
import statistics
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

Phases = dict[str, list[float]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def wrapped(owner: Any, attr: str, label: Callable[..., str], into: dict[str, float]
            ) -> Iterator[None]:
    """Time every call of ``owner.attr`` (a class or instance attribute) into ``into``."""
    original = getattr(owner, attr)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            key = label(*args, **kwargs)
            into[key] = into.get(key, 0.0) + time.perf_counter() - t0

    setattr(owner, attr, timed)
    try:
        yield
    finally:
        setattr(owner, attr, original)


def _podman_label(_self: Any, *args: str, **_kw: Any) -> str:
    words = [a for a in args[:2] if not a.startswith("-")]
    if args and args[0] == "--runtime":  # `podman --runtime runc run -d ...`
        words = [a for a in args[2:4] if not a.startswith("-")]
    return "podman " + " ".join(words)


def agent_boot_s(container: str) -> float | None:
    """Seconds from the engine starting the container to the agent's ``agent.ready`` line."""
    inspect = subprocess.run(["podman", "container", "inspect", container],
                             capture_output=True, text=True, check=False)
    logs = subprocess.run(["podman", "logs", "--tail", "20", container],
                          capture_output=True, text=True, check=False)
    if inspect.returncode != 0:
        return None
    started = json.loads(inspect.stdout)[0]["State"]["StartedAt"]
    # Podman prints e.g. 2026-11-28T10:01:02.123456789Z or ...+00:00 with nanoseconds.
    head, _, frac = started.partition(".")
    digits = "".join(c for c in frac if c.isdigit())[:6]
    t_start = datetime.fromisoformat(head + ("." + digits if digits else "") + "+00:00")
    ready = [json.loads(ln) for ln in (logs.stdout + logs.stderr).splitlines()
             if ln.startswith("{") and '"agent.ready"' in ln]
    if not ready:
        return None
    return float(ready[-1]["ts"]) - t_start.timestamp()


def measure(tenant: str, runs: int) -> tuple[list[float], Phases, list[float]]:
    """(start times, per-phase seconds per run, agent boot times)."""
    import httpx

    from osp.app import open_app
    from osp.config import Settings
    from osp.release import manifest
    from osp.runtime.firewall import NftFirewall
    from osp.runtime.podman import PodmanBackend
    from osp.terminal import tenant_arg

    starts: list[float] = []
    phases: Phases = defaultdict(list)
    boots: list[float] = []
    with open_app(Settings()) as app:
        info = tenant_arg(app.platform, tenant)
        svc = app.runtime.service
        backend = svc.backend
        container = backend.container_name(tenant) if isinstance(backend, PodmanBackend) else ""
        for _ in range(runs):
            svc.stop(info, "bench")
            into: dict[str, float] = {}
            with wrapped(PodmanBackend, "_podman", _podman_label, into), \
                    wrapped(NftFirewall, "apply", lambda *a, **k: "nft load", into), \
                    wrapped(manifest, "inspect_image",
                            lambda *a, **k: "podman image inspect", into), \
                    wrapped(svc.bootstrap, "issue", lambda *a, **k: "token issue", into), \
                    wrapped(httpx, "get", lambda *a, **k: "agent HTTP (health polls, /status)",
                            into), \
                    wrapped(time, "sleep", lambda *a, **k: "poll sleeps", into):
                t0 = time.perf_counter()
                svc.start(info, "bench", wait=True)
                total = time.perf_counter() - t0
            starts.append(total)
            for key, value in into.items():
                phases[key].append(value)
            accounted = sum(into.values())
            phases["other (db, audit, python)"].append(max(0.0, total - accounted))
            if container:
                boot = agent_boot_s(container)
                if boot is not None:
                    boots.append(boot)
    return starts, phases, boots


def report(starts: list[float], phases: Phases, boots: list[float], floor: float) -> None:
    print(f"{'RuntimeService.start to healthy (in-process)':44} p50 "
          f"{statistics.median(starts):6.3f} s  p95 {pct(starts, 0.95):6.3f} s  "
          f"min {min(starts):6.3f} s  n={len(starts)}  "
          f"{statistics.median(starts) / floor:.2f}x")
    print("\nper phase of one start (seconds summed over the calls in that start):")
    for key in sorted(phases, key=lambda k: -statistics.median(phases[k])):
        values = phases[key]
        print(f"  {key:40} p50 {statistics.median(values):6.3f} s  p95 "
              f"{pct(values, 0.95):6.3f} s  (in {len(values)}/{len(starts)} runs)")
    if boots:
        print(f"  {'agent boot (container start -> ready)':40} p50 "
              f"{statistics.median(boots):6.3f} s  p95 {pct(boots, 0.95):6.3f} s  "
              "(inside the health wait)")
