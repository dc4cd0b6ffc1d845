"""Sustained load, then the same load with one tenant abusing the platform.

Two phases of ``--duration`` seconds each against one control plane (real uvicorn, real
Postgres) and ``--tenants`` real tenant containers whose agents call a scripted model that
answers at once:

1. quiet: every tenant's client sends messages back to back for the whole phase;
2. abuse: the same, while an extra tenant's member floods that tenant's *stopped* agent
   with ``--flood`` concurrent messages and posts oversized bodies (5 MiB) to the login and
   chat routes, without pause.

Reported per phase: messages/s, the overhead per message (client time minus the time the
agent waited for the model) p50/p90/p99, errors; for the abuse phase what the abuser got.
The property checked: the other tenants' p99 stays within 2x of the quiet run.

The clients run in their own processes (never in the server's interpreter); ``--client-cpus``
pins them to a CPU set (e.g. ``1``) so they take no time from the server's core budget.

Run as root on a host with podman, runc, nft and debootstrap:

    python bench/reliability/bench_load.py [--tenants 20] [--duration 300] [--flood 32]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))

import httpx
from bench_overhead import QUESTIONS, installation, pct

BIG = 5 * 1024 * 1024  # over the 4 MiB request limit


def _pin(cpus: str | None) -> None:
    if cpus:
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


def client_for(url: str, tenant: str, token: str, duration_s: float,
               cpus: str | None) -> tuple[list[float], dict[str, int]]:
    """One tenant's client, in its own process: overheads (ms) of answered messages and a
    count of everything else."""
    _pin(cpus)
    overheads: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + duration_s
    with httpx.Client(timeout=120) as client:
        i = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                r = client.post(f"{url}/api/v1/tenants/{tenant}/messages",
                                json={"text": QUESTIONS[i % len(QUESTIONS)]},
                                headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                continue
            total = (time.perf_counter() - started) * 1000
            i += 1
            data = r.json() if r.headers.get("content-type", "").startswith("application/json") \
                else {}
            if r.status_code == 200 and data.get("status") == "answered":
                overheads.append(total - float(data.get("model_ms") or 0.0))
            else:
                errors[f"HTTP {r.status_code}"] += 1
    return overheads, dict(errors)


def abuser(url: str, tenant: str, token: str, duration_s: float, flood: int,
           cpus: str | None) -> dict[str, int]:
    """Floods a stopped agent with ``flood`` concurrent senders and oversized bodies."""
    _pin(cpus)
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s
    big = b'{"text": "' + b"a" * BIG + b'"}'

    def sender(k: int) -> None:
        with httpx.Client(timeout=120) as client:
            while time.monotonic() < deadline:
                try:
                    if k % 4 == 0:  # a quarter of the senders post oversized bodies
                        path = "/api/v1/auth/login" if k % 8 == 0 else \
                            f"/api/v1/tenants/{tenant}/messages"
                        r = client.post(url + path, content=big,
                                        headers={"Authorization": f"Bearer {token}",
                                                 "Content-Type": "application/json"})
                        key = f"oversized {r.status_code}"
                    else:
                        r = client.post(f"{url}/api/v1/tenants/{tenant}/messages",
                                        json={"text": "are you there?"},
                                        headers={"Authorization": f"Bearer {token}"})
                        key = f"flood {r.status_code}"
                except httpx.HTTPError as exc:
                    key = f"error {type(exc).__name__}"
                with lock:
                    answers[key] += 1

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(flood)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return dict(answers)


def summary(name: str, results: list[tuple[list[float], dict[str, int]]],
            wall_s: float) -> float:
    values = [v for overheads, _errors in results for v in overheads]
    errors: Counter[str] = Counter()
    for _overheads, errs in results:
        errors.update(errs)
    if not values:
        print(f"{name}: no answered message; errors {dict(errors)}", flush=True)
        return float("nan")
    p99 = pct(values, 99)
    print(f"{name:28} n={len(values):6}  {len(values) / wall_s:6.1f} msg/s  "
          f"p50={statistics.median(values):7.1f} ms  p90={pct(values, 90):7.1f} ms  "
          f"p99={p99:7.1f} ms  max={max(values):7.1f} ms  errors={dict(errors) or 0}",
          flush=True)
    return p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds per phase")
    parser.add_argument("--flood", type=int, default=32, help="concurrent abusive senders")
    parser.add_argument("--client-cpus", default=None,
                        help="CPU list the client processes are pinned to, e.g. 1")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    print(f"{args.tenants} tenants, {args.duration:g} s per phase, flood {args.flood}, "
          f"clients on CPUs {args.client_cpus or 'any'} of {os.cpu_count()}", flush=True)
    with installation(args.tenants, stopped=1, prefix="osl",
                          pool="10.224.0.0/16") as (url, made), \
            ProcessPoolExecutor(max_workers=args.tenants + 1, mp_context=spawn) as pool:
        *tenants, (abused, abused_token) = made
        names, tokens = zip(*tenants, strict=True)
        # Warm-up: the first message of each agent loads its rails.
        list(pool.map(client_for, repeat(url), names, tokens, repeat(5.0),
                      repeat(args.client_cpus)))
        started = time.perf_counter()
        quiet = list(pool.map(client_for, repeat(url), names, tokens,
                              repeat(args.duration), repeat(args.client_cpus)))
        quiet_p99 = summary("quiet", quiet, time.perf_counter() - started)
        started = time.perf_counter()
        flood = pool.submit(abuser, url, abused, abused_token, args.duration, args.flood,
                            args.client_cpus)
        loud = list(pool.map(client_for, repeat(url), names, tokens,
                             repeat(args.duration), repeat(args.client_cpus)))
        loud_p99 = summary("with one tenant abusing", loud, time.perf_counter() - started)
        print(f"abuser's answers: {flood.result()}", flush=True)
        ratio = loud_p99 / quiet_p99
        print(f"others' p99 under abuse / quiet: {ratio:.2f}x "
              f"({'within' if ratio <= 2 else 'NOT within'} 2x)", flush=True)


if __name__ == "__main__":
    main()
