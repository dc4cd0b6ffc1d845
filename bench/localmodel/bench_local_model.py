"""The local model (`osp model serve`: llama.cpp's server over the bundled SmolLM2-135M-Instruct)
on this machine. Prints figures, asserts nothing.

    .venv/bin/python bench/localmodel/bench_local_model.py [--runs 10] [--threads N]

Figures: the server's start to ready (process start, model load, first answer to
/v1/models); per streamed chat request, the first-token latency (request sent to the first
content chunk) and the generation rate (content chunks after the first, per second; llama.cpp
streams one token per chunk). Two prompts: a one-line question, and the same question behind
a system prompt and tool list of the size the governed agent sends (~1,500 tokens), which is
what a tenant's first message costs.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from osp.localmodel.server import ServerOptions, running

print = functools.partial(print, flush=True)  # progress shows when piped

QUESTION = "Tell me a short story about a lighthouse keeper."
TOOLS = [{"type": "function", "function": {
    "name": f"tool_{i}", "description": "Reads or writes the assistant's notes for the user: "
    "a key, a value and a free-text query; results are plain text. " * 3,
    "parameters": {"type": "object", "properties": {
        "key": {"type": "string", "description": "The note's key."},
        "value": {"type": "string", "description": "The note's text."},
        "query": {"type": "string", "description": "Words to search for."}}}}}
    for i in range(8)]
SYSTEM = "You are the demo assistant of OSP. Be brief and friendly. " * 20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stream(url: str, key: str, body: dict[str, object]) -> tuple[float, float, int]:
    """(first-token latency s, generation tokens/s, tokens)."""
    start = time.perf_counter()
    first = None
    chunks = 0
    with httpx.stream("POST", url, json={**body, "stream": True}, timeout=300,
                      headers={"Authorization": f"Bearer {key}"}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0].get("delta") or {}
            if delta.get("content"):
                chunks += 1
                if first is None:
                    first = time.perf_counter()
    end = time.perf_counter()
    if first is None:
        return end - start, 0.0, 0
    rate = (chunks - 1) / (end - first) if chunks > 1 and end > first else 0.0
    return first - start, rate, chunks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with running(ServerOptions(Path(tmp), free_port(), host="127.0.0.1",
                                   threads=args.threads)) as server:
            ready = time.perf_counter() - t0
            url = f"http://127.0.0.1:{server.model.port}/v1/chat/completions"
            key = server.model.api_key
            threads = args.threads or max(1, (os.cpu_count() or 2) // 2)
            print(f"model {server.model.name}, threads {threads}, "
                  f"load average {os.getloadavg()[0]:.2f}")
            print(f"server start to ready: {ready:.2f} s")
            # Each request starts differently: llama.cpp reuses the cached prefix of the
            # previous prompt, which would hide the prompt's cost.
            cases = {
                "one-line question": lambda i: {"messages": [
                    {"role": "user", "content": f"({i}) {QUESTION}"}]},
                "agent-sized prompt (system + 8 tools)": lambda i: {"messages": [
                    {"role": "system", "content": f"Conversation {i}. {SYSTEM}"},
                    {"role": "user", "content": QUESTION}], "tools": TOOLS},
            }
            common = {"model": server.model.name, "max_tokens": args.max_tokens,
                      "temperature": 0.7}
            for label, make in cases.items():
                stream(url, key, {**make(-1), **common})  # warm-up
                ttft, rates, tokens = [], [], []
                for i in range(args.runs):
                    first, rate, n = stream(url, key, {**make(i), **common})
                    ttft.append(first)
                    rates.append(rate)
                    tokens.append(n)
                print(f"{label}: first token p50 {statistics.median(ttft) * 1000:.0f} ms, "
                      f"p90 {pct(ttft, 0.9) * 1000:.0f} ms; generation p50 "
                      f"{statistics.median(rates):.1f} tok/s (min {min(rates):.1f}); "
                      f"{statistics.median(tokens):.0f} tokens per answer; n={args.runs}")
            print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
