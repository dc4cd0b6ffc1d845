"""Cost of the one secret-shape catalogue where it runs most: the log/audit scrubber.

    python bench/checks/bench_scrub.py [--n 20000]

Times ``osp.logs.scrub_text`` (every string field of every log line and audit detail) and
``find_secrets`` (the governance detector's scan) per string, on log-like lines and on the
governance evaluation corpus (chat messages, documents), and prints percentiles in
microseconds. Each string is timed as the median of a small batch, so the figures are per
call, not per batch.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from osp.checks.secret_shapes import find_secrets
from osp.logs import scrub_text

DATA = Path(__file__).resolve().parents[1] / "governance" / "data"
LOG_LINES = [
    "agent.ready", "tenant acme started in 120 ms", "message.delivered",
    "GET https://api.example.com/v1/items returned 200",
    "token refresh for connection 6c1f0f0e failed: invalid_grant",
    "approval 3f2a expired after 3600 s", "rail input.injection rejected (score 0.93)",
    "bootstrap exchange for instance i-7 ok", "connection to postgres lost; retrying in 2 s",
    "plain message without anything interesting at all, a bit longer than usual",
]


def corpus(n: int, rng: random.Random) -> list[str]:
    texts: list[str] = []
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = json.loads(line).get("text")
            if isinstance(text, str):
                texts.append(text)
    rng.shuffle(texts)
    return texts[:n]


def per_call_us(fn: Callable[[str], object], texts: list[str], batch: int = 5) -> list[float]:
    out = []
    for text in texts:
        runs = []
        for _ in range(batch):
            t0 = time.perf_counter()
            result = fn(text)
            if isinstance(result, Iterator):
                list(result)  # find_secrets is a generator: time the whole scan
            runs.append((time.perf_counter() - t0) * 1e6)
        out.append(statistics.median(runs))
    return out


def show(label: str, values: list[float]) -> None:
    q = statistics.quantiles(values, n=100)
    print(f"{label:38} n={len(values):6}  p50 {q[49]:8.1f}  p95 {q[94]:8.1f}  "
          f"p99 {q[98]:8.1f}  mean {statistics.fmean(values):8.1f}  (us per string)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    rng = random.Random(7)
    logs = [rng.choice(LOG_LINES) for _ in range(args.n)]
    texts = corpus(args.n, rng)
    show("scrub_text, log lines", per_call_us(scrub_text, logs))
    show("scrub_text, corpus texts", per_call_us(scrub_text, texts))
    show("find_secrets, corpus texts", per_call_us(find_secrets, texts))


if __name__ == "__main__":
    main()
