"""Latency per stage for every governance preset on one CPU core, with the encoder loaded where
the preset uses it; the encoder's size, load time and the process memory with and without it.

    OSP_GUARD_DATA=<dev data> taskset -c 1 python bench/governance/bench_presets.py [--n 300]

Stages: input (the user's message), output (a reply), input+output (one message's round trip),
retrieval (a document chunk), execution (a tool call against an allow-list with argument rules)
and dialog. Pipelines run in process, as the gateway runs the input/output rails; in a deployed
`full` tenant the retrieval rail's encoder call is one HTTP request more (see docs/benchmarks.md,
"Placement of the semantic tier").

The `full` preset's `output.judge` calls the tenant's model. Here that model is the scripted
OpenAI-compatible server of the tests (tests/agent/scripted.py) in a separate process on another
core, answering "allow" at once: the judge figures are the rail's own cost (prompt, HTTP round
trip on loopback, strict JSON parse), not a real model's. `full` without the judge is measured
beside it. Judge verdicts are cached per content hash; replies are drawn so that they repeat
rarely, and the cache hits are counted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_latency import CHAT, percentiles, pin_one_core
from bench_semantic import DOCS, rss_mb
from corpus import HERE, load_all

from osp.governance import MemorySink, Pipeline, Policy, Stage, builtin_registry
from osp.governance.detectors.encoder import ENCODER_DIR, EncoderStore
from osp.governance.detectors.linear import ModelStore
from osp.governance.interfaces import RailDeps, ToolCall
from osp.governance.policy import PRESETS

ALLOW = '{"verdict": "allow", "reasons": []}'
TOOLS = {
    "allowed": ["send_email", "search", "create_ticket"],
    "approval_required": ["create_ticket"],
    "arguments": {
        "send_email": {
            "to": {"type": "string", "required": True, "pattern": r"[^@\s]+@[^@\s]+"},
            "subject": {"type": "string", "max_length": 200},
            "body": {"type": "string", "max_length": 10_000},
        },
        "search": {"query": {"type": "string", "required": True, "max_length": 500}},
    },
}


def _serve_judge(port: Any, ready: Any) -> None:
    """Child process: the scripted model, answering every request with an allow verdict."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.agent.scripted import ScriptedModel, say

    try:  # keep the stand-in model off the measured core
        others = sorted(os.sched_getaffinity(0) - {1}) or [0]
        os.sched_setaffinity(0, set(others))
    except (AttributeError, OSError):
        pass
    model = ScriptedModel()
    model._next = lambda body: (200, {  # type: ignore[method-assign]
        "id": "chatcmpl-bench", "object": "chat.completion",
        "choices": [{"index": 0, "message": say(ALLOW), "finish_reason": "stop"}]})
    server = model.start()
    port.value = server.server_address[1]
    ready.set()
    while True:
        time.sleep(3600)


def judge_deps(port: int) -> Any:
    from osp.agent.config import parse_config
    from osp.agent.judge import ProviderJudge
    from osp.agent.loop import default_provider

    config = parse_config({"model": {"provider": "openai", "model": "judge-bench",
                                     "base_url": f"http://127.0.0.1:{port}/v1"}})
    return ProviderJudge(config, {"MODEL_API_KEY": "sk-bench"}, default_provider)


def policy(preset: str, *, judge: bool = True) -> Policy:
    stages = {k: list(v) for k, v in PRESETS[preset].items()}
    if not judge:
        stages["output"] = [r for r in stages["output"] if r["key"] != "output.judge"]
    return Policy.model_validate({"preset": preset, "stages": stages, "tools": TOOLS})


def tool_calls(rng: random.Random, n: int, texts: list[str]) -> list[ToolCall]:
    made = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.5:
            made.append(ToolCall("send_email", {"to": "ana@example.com", "subject": "Update",
                                                "body": rng.choice(texts)[:2000]}))
        elif kind < 0.8:
            made.append(ToolCall("search", {"query": rng.choice(texts)[:400]}))
        elif kind < 0.9:
            made.append(ToolCall("create_ticket", {"title": "x"}))
        else:
            made.append(ToolCall("delete_account", {"id": 7}))
    return made


# The gateway reads every message against the tenant's system prompt; a typical one.
INSTRUCTIONS = ("You are the support assistant of Example Ltd. Answer questions about orders, "
                "deliveries and returns in English. Be concise and polite.")

def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--instructions", default=INSTRUCTIONS,
                    help="tenant instructions the input stage reads messages against ('' none)")
    args = ap.parse_args()
    instr = args.instructions or None
    print(pin_one_core(), f"| load average {os.getloadavg()}")
    rng = random.Random(11)
    rows = load_all()
    chat = [r.text for r in rows if r.source in CHAT]
    everything = [r.text for r in rows]
    docs = [r.text for r in rows if r.source in DOCS]
    replies = [r.text for r in rows if r.label == "benign"]

    ctx = mp.get_context("spawn")
    port, ready = ctx.Value("i", 0), ctx.Event()
    server = ctx.Process(target=_serve_judge, args=(port, ready), daemon=True)
    server.start()
    if not ready.wait(30):
        raise SystemExit("the scripted judge model did not start")
    judge = judge_deps(port.value)

    results: dict[str, Any] = {"loadavg_start": os.getloadavg(), "n": args.n, "stages": []}
    rss0 = rss_mb()
    store = ModelStore()
    t0 = time.perf_counter()
    lean = Pipeline(policy("lean"), builtin_registry(), MemorySink(), deps=RailDeps(models=store))
    lean.check(Stage.INPUT, "hello")
    lean.check(Stage.OUTPUT, "hello")
    lean_ms = (time.perf_counter() - t0) * 1000
    rss_lean = rss_mb()
    encoders = EncoderStore()
    full = Pipeline(policy("full"), builtin_registry(), MemorySink(),
                    deps=RailDeps(models=store, judge=judge, encoders=encoders))
    rss_full_unloaded = rss_mb()
    t0 = time.perf_counter()
    encoders.get()
    load_ms = (time.perf_counter() - t0) * 1000
    rss_full = rss_mb()
    nojudge = Pipeline(policy("full", judge=False), builtin_registry(), MemorySink(),
                       deps=RailDeps(models=store, encoders=encoders))
    size = sum(p.stat().st_size for p in ENCODER_DIR.iterdir()) / 1e6
    print(f"process RSS after imports {rss0:.0f} MB; lean pipeline built and warm "
          f"{rss_lean:.0f} MB ({lean_ms:.0f} ms, loads the cheap tier's weights)")
    print(f"full pipeline built, encoder not loaded: {rss_full_unloaded:.0f} MB; encoder "
          f"loaded: {rss_full:.0f} MB (+{rss_full - rss_full_unloaded:.0f} MB)")
    print(f"encoder artefact {size:.1f} MB on disk; cold load {load_ms:.0f} ms\n")
    results.update(rss_after_imports_mb=rss0, rss_lean_mb=rss_lean, lean_start_ms=lean_ms,
                   rss_full_unloaded_mb=rss_full_unloaded, rss_full_loaded_mb=rss_full,
                   encoder_size_mb=size, encoder_load_ms=load_ms)
    for text in chat[:30]:  # warm caches and the judge's HTTP client path
        for p in (lean, full, nojudge):
            p.check(Stage.INPUT, text)
            p.check(Stage.OUTPUT, text + " ")

    n = args.n
    chat_in = [rng.choice(chat) for _ in range(n)]
    all_in = [rng.choice(everything) for _ in range(n)]
    chunks = [rng.choice(docs) for _ in range(n)]
    calls = tool_calls(rng, n, replies)
    dialog = [rng.choice(chat) for _ in range(n)]

    def fresh_replies(tag: str) -> list[str]:
        # A marker per plan keeps every reply distinct, so the judge's cache starts cold.
        return [rng.choice(replies) + f"\n\n({tag} {i})" for i in range(n)]

    Run = Callable[[Pipeline, int], object]
    plans: list[tuple[str, str, Run, list[str]]] = []
    for mix, ins in (("chat", chat_in), ("all sources", all_in)):
        outs = fresh_replies(mix)
        plans.append(("input", mix, lambda p, i, ins=ins: p.check(
            Stage.INPUT, ins[i], instructions=instr), ins))
        plans.append((
            "input+output", mix,
            lambda p, i, ins=ins, outs=outs: (p.check(Stage.INPUT, ins[i], instructions=instr),
                                              p.check(Stage.OUTPUT, outs[i], prompt=ins[i])),
            [m + o for m, o in zip(ins, outs, strict=True)],
        ))
    outs = fresh_replies("reply")
    plans.append(("output", "replies",
                  lambda p, i: p.check(Stage.OUTPUT, outs[i], prompt=chat_in[i]), outs))
    plans.append(("retrieval", "documents", lambda p, i: p.check(Stage.RETRIEVAL, chunks[i]),
                  chunks))
    serialised = [json.dumps({"tool": c.name, "arguments": dict(c.arguments)}) for c in calls]
    plans.append(("execution", "tool calls", lambda p, i: p.check(
        Stage.EXECUTION, serialised[i], tool_call=calls[i]), serialised))
    plans.append(("dialog", "chat", lambda p, i: p.check(Stage.DIALOG, dialog[i]), dialog))

    pipes = (("lean", lean), ("full, no judge", nojudge), ("full", full))
    judged = [0, 0]
    print("Pipelines take turns on each item, so load changes touch all three alike.\n")
    print("| preset | stage | mix | p50 ms | p99 ms | mean ms | mean chars |")
    print("|---|---|---|---:|---:|---:|---:|")
    for stage, mix, run, texts in plans:
        wall: dict[str, list[float]] = {name: [] for name, _ in pipes}
        for i in range(n):
            for name, pipe in pipes:
                t = time.perf_counter()
                got = run(pipe, i)
                wall[name].append((time.perf_counter() - t) * 1000)
                if name == "full" and stage in ("output", "input+output"):
                    out = got[-1] if isinstance(got, tuple) else got
                    judged[0] += any(o.rail == "output.judge" for o in out.outcomes)
                    judged[1] += out.rail == "output.judge" and not out.allowed
        chars = sum(len(t) for t in texts) / len(texts)
        for name, _ in pipes:
            p50, p99, mean = percentiles(wall[name])
            print(f"| {name} | {stage} | {mix} | {p50:.2f} | {p99:.2f} | {mean:.2f} | "
                  f"{chars:.0f} |", flush=True)
            results["stages"].append({"preset": name, "stage": stage, "mix": mix, "p50": p50,
                                      "p99": p99, "mean": mean, "chars": chars})
    results["judge_reached"], results["judge_rejected"] = judged
    print(f"\nreplies that reached output.judge in `full`: {judged[0]} of {3 * n}, "
          f"refused by it: {judged[1]}")
    results["loadavg_end"] = os.getloadavg()
    print(f"\nload average at the end {results['loadavg_end']}")
    for p in (lean, full, nojudge):
        p.close()
    server.kill()
    out = HERE / "results" / "presets.json"
    out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
