"""Latency per stage on one CPU core, and `osp guard` throughput.

    python bench/governance/bench_latency.py [--n 2000]

Pins the process to one core. Messages are drawn from the evaluation corpus: a "chat" mix of
short messages and an "all" mix that also has long jailbreak prompts, e-mails and documents.
Output-stage texts are benign corpus texts standing in for model replies.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time

import numpy as np
from corpus import HERE, load_all

from osp.governance import MemorySink, Pipeline, Policy, Stage, builtin_registry
from osp.governance.cli import run_guard

CHAT = ("dev:alpaca", "osp:chat", "osp:support", "osp:code", "osp:hardneg", "osp:tasks")


def pin_one_core() -> str:
    try:
        core = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity)"


def percentiles(values: list[float]) -> tuple[float, float, float]:
    a = np.array(values)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.mean())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    print(pin_one_core())
    rng = random.Random(3)
    rows = load_all()
    chat = [r.text for r in rows if r.source in CHAT]
    everything = [r.text for r in rows]
    replies = [r.text for r in rows if r.label == "benign"]
    t0 = time.perf_counter()
    pipe = Pipeline(Policy.preset_policy("lean"), builtin_registry(), MemorySink())
    startup = (time.perf_counter() - t0) * 1000
    print(f"lean pipeline start-up (loads weights): {startup:.0f} ms\n")
    for text in chat[:50]:  # warm caches
        pipe.check(Stage.INPUT, text)
        pipe.check(Stage.OUTPUT, text)

    results: dict[str, object] = {"startup_ms": startup, "stages": [], "guard": {}}
    print("Wall clock, and process CPU time (all threads), which other jobs on a shared VM")
    print("inflate much less than wall time.\n")
    print("| mix | stage | p50 ms | p99 ms | mean ms | CPU p50 ms | CPU p99 ms | mean chars |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    clock = time.perf_counter
    cpu = time.process_time
    for mix_name, pool in (("chat", chat), ("all sources", everything)):
        msgs = [rng.choice(pool) for _ in range(args.n)]
        outs = [rng.choice(replies) for _ in range(args.n)]
        stages = ("input", "output", "retrieval", "input+output")
        wall: dict[str, list[float]] = {s: [] for s in stages}
        cpus: dict[str, list[float]] = {s: [] for s in stages}
        for m, o in zip(msgs, outs, strict=True):
            t, c = clock(), cpu()
            pipe.check(Stage.INPUT, m)
            t_in, c_in = clock(), cpu()
            pipe.check(Stage.OUTPUT, o)
            t_out, c_out = clock(), cpu()
            pipe.check(Stage.RETRIEVAL, o)
            t_ret, c_ret = clock(), cpu()
            for name, w, cc in (
                ("input", t_in - t, c_in - c),
                ("output", t_out - t_in, c_out - c_in),
                ("retrieval", t_ret - t_out, c_ret - c_out),
                ("input+output", t_out - t, c_out - c),
            ):
                wall[name].append(w * 1000)
                cpus[name].append(cc * 1000)
        for stage in stages:
            p50, p99, mean = percentiles(wall[stage])
            c50, c99, _ = percentiles(cpus[stage])
            chars = np.mean([len(x) for x in (outs if stage in ("output", "retrieval") else msgs)])
            print(
                f"| {mix_name} | {stage} | {p50:.3f} | {p99:.3f} | {mean:.3f} | {c50:.3f} | "
                f"{c99:.3f} | {chars:.0f} |"
            )
            results["stages"].append(  # type: ignore[attr-defined]
                {
                    "mix": mix_name,
                    "stage": stage,
                    "p50": p50,
                    "p99": p99,
                    "mean": mean,
                    "cpu_p50": c50,
                    "cpu_p99": c99,
                }
            )

    for mix_name, pool in (("chat", chat), ("all sources", everything)):
        lines = "".join(
            json.dumps({"id": i, "text": rng.choice(pool)}) + "\n" for i in range(args.n)
        )
        src, dst = io.BytesIO(lines.encode()), io.BytesIO()
        t, c = clock(), cpu()
        run_guard(pipe, Stage.INPUT, src, dst, stop_on_error=False)
        rate, cpu_rate = args.n / (clock() - t), args.n / (cpu() - c)
        print(
            f"\nosp guard --stage input (lean), {mix_name} mix: {rate:,.0f} lines/s wall, "
            f"{cpu_rate:,.0f} lines per CPU-second"
        )
        results["guard"][mix_name] = {"wall": rate, "cpu": cpu_rate}  # type: ignore[index]
    pipe.close()
    out = HERE / "results" / "latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
