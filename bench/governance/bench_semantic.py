"""The semantic tier's cost on one CPU core: artefact size, load time, memory, latency per stage,
and `osp guard` throughput with the encoder.

    python bench/governance/bench_semantic.py [--n 300]

Policy measured: the lean preset plus input.semantic and retrieval.semantic (what `full` adds
apart from the sampled self-check, which calls the tenant's model).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import sys
import time

from bench_latency import CHAT, percentiles, pin_one_core
from corpus import HERE, load_all

from osp.governance import MemorySink, Pipeline, Policy, Stage, builtin_registry
from osp.governance.cli import run_guard
from osp.governance.detectors.encoder import ENCODER_DIR, Encoder
from osp.governance.policy import PRESETS

DOCS = ("osp:docs", "osp:pydoc", "osp:email", "dev:bipia_email", "osp:longchat")


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def semantic_policy() -> Policy:
    stages = {k: list(v) for k, v in PRESETS["lean"].items()}
    stages["input"].append({"key": "input.semantic", "timeout_ms": 60_000})
    stages["retrieval"].append({"key": "retrieval.semantic", "timeout_ms": 60_000})
    return Policy.model_validate({"stages": stages})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    print(pin_one_core())
    rng = random.Random(5)
    rows = load_all()
    chat = [r.text for r in rows if r.source in CHAT]
    everything = [r.text for r in rows]
    docs = [r.text for r in rows if r.source in DOCS]
    size = sum(p.stat().st_size for p in ENCODER_DIR.iterdir()) / 1e6
    before = rss_mb()
    t0 = time.perf_counter()
    Encoder()
    load_ms = (time.perf_counter() - t0) * 1000
    after = rss_mb()
    print(
        f"artefact {size:.1f} MB on disk; cold load {load_ms:.0f} ms; "
        f"RSS +{after - before:.0f} MB ({before:.0f} -> {after:.0f} MB)\n"
    )
    pipe = Pipeline(semantic_policy(), builtin_registry(), MemorySink())
    lean = Pipeline(Policy.preset_policy("lean"), builtin_registry(), MemorySink())
    for t in chat[:20]:
        pipe.check(Stage.INPUT, t)
    results: dict[str, object] = {
        "size_mb": size,
        "load_ms": load_ms,
        "rss_delta_mb": after - before,
        "stages": [],
    }
    print("| policy | mix | stage | p50 ms | p99 ms | mean ms | mean chars |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name, p in (("lean", lean), ("lean+semantic", pipe)):
        for mix, pool, stage in (
            ("chat", chat, Stage.INPUT),
            ("all sources", everything, Stage.INPUT),
            ("documents", docs, Stage.RETRIEVAL),
        ):
            msgs = [rng.choice(pool) for _ in range(args.n)]
            wall = []
            for m in msgs:
                t = time.perf_counter()
                p.check(stage, m)
                wall.append((time.perf_counter() - t) * 1000)
            p50, p99, mean = percentiles(wall)
            chars = sum(len(m) for m in msgs) / len(msgs)
            print(
                f"| {name} | {mix} | {stage.value} | {p50:.2f} | {p99:.2f} | {mean:.2f} | "
                f"{chars:.0f} |"
            )
            results["stages"].append(
                {
                    "policy": name,
                    "mix": mix,
                    "stage": stage.value,  # type: ignore[attr-defined]
                    "p50": p50,
                    "p99": p99,
                    "mean": mean,
                }
            )
    lines = "".join(json.dumps({"id": i, "text": rng.choice(chat)}) + "\n" for i in range(args.n))
    src, dst = io.BytesIO(lines.encode()), io.BytesIO()
    t = time.perf_counter()
    run_guard(pipe, Stage.INPUT, src, dst, stop_on_error=False)
    rate = args.n / (time.perf_counter() - t)
    print(f"\nosp guard --stage input (lean+semantic), chat mix: {rate:,.0f} lines/s")
    results["guard_lines_per_s"] = rate
    print(f"process RSS with both pipelines loaded: {rss_mb():.0f} MB")
    pipe.close()
    lean.close()
    out = HERE / "results" / "semantic.json"
    out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
