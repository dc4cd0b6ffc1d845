"""False positives of the shipped detectors on benign look-alikes, per attack family.

    python bench/governance/bench_lookalikes.py [--write-results]

Reads data/osp_lookalikes.jsonl (built by lookalikes.py; never trained on, no threshold chosen
on it) and runs every text through the shipped `lean` and `full` pipelines at the stage its
family names: input for messages, retrieval for documents. A message is a false positive when
the stage refuses it; a document when the stage drops it or an injection rail rewrites it.
`full` is measured without `output.judge` (an output-stage rail; nothing here reaches it).
Prints the rate per family with a 95% Wilson interval and which rails fired.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter

from corpus import HERE
from lookalikes import rows_by_family

from osp.agent.config import AgentConfig
from osp.governance import MemorySink, Pipeline, Policy, Stage, StageResult, builtin_registry
from osp.governance.detectors.linear import ModelStore
from osp.governance.interfaces import RailDeps

DEFAULT_SYSTEM_PROMPT = AgentConfig.model_fields["system_prompt"].default
INJECTION_RAILS = {"retrieval.injection", "retrieval.semantic"}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def flagged(result: StageResult) -> str | None:
    """The rail that flagged a benign text, or None when it passed untouched."""
    if not result.allowed:
        return f"{result.rail or 'engine'} ({result.reason})"
    if result.stage is Stage.RETRIEVAL and result.rail in INJECTION_RAILS:
        return f"{result.rail} (rewritten)"
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-results", action="store_true")
    ap.add_argument(
        "--instructions",
        default=DEFAULT_SYSTEM_PROMPT,
        help="tenant instructions the input stage reads messages against, as the gateway does "
        "(default: the agent's default system prompt; '' for none)",
    )
    args = ap.parse_args()
    path = HERE / "data" / "osp_lookalikes.jsonl"
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    store = ModelStore()
    full_stages = Policy.preset_policy("full").model_dump()["stages"]
    full_stages["output"] = [r for r in full_stages["output"] if r["key"] != "output.judge"]
    pipes = {
        "lean": Pipeline(Policy.preset_policy("lean"), builtin_registry(), MemorySink(),
                         deps=RailDeps(models=store)),
        "full": Pipeline(Policy.model_validate({"preset": "full", "stages": full_stages}),
                         builtin_registry(), MemorySink(), deps=RailDeps(models=store)),
    }
    results: list[dict[str, object]] = []
    print("| family | stage | n | lean FP | lean 95% CI | full FP | full 95% CI | rails that fired "
          "(full) |")
    print("|---|---|---:|---:|---|---:|---|---|")
    totals = {name: [0, 0] for name in pipes}
    for family, got in rows_by_family(rows):
        stage = Stage(got[0]["stage"])
        line: dict[str, object] = {"family": family, "stage": stage.value, "n": len(got)}
        cells = []
        fired: Counter[str] = Counter()
        for name, pipe in pipes.items():
            rails = [
                flagged(pipe.check(stage, r["text"], instructions=args.instructions or None))
                for r in got
            ]
            hits = [r for r in rails if r]
            if name == "full":
                fired.update(hits)
            lo, hi = wilson(len(hits), len(got))
            cells.append(f"{len(hits) / len(got):.1%} | {lo:.1%}-{hi:.1%}")
            line[name] = {"fp": len(hits), "rate": len(hits) / len(got), "ci": [lo, hi],
                          "rails": dict(Counter(hits))}
            if stage is Stage.INPUT:
                totals[name][0] += len(hits)
                totals[name][1] += len(got)
        why = ", ".join(f"{k} {v}" for k, v in fired.most_common()) or "—"
        print(f"| {family} | {stage.value} | {len(got)} | {cells[0]} | {cells[1]} | {why} |")
        results.append(line)
    for name, (k, n) in totals.items():
        lo, hi = wilson(k, n)
        print(f"\n{name}: all input families {k}/{n} = {k / n:.1%} ({lo:.1%}-{hi:.1%})", end="")
    print()
    if args.write_results:
        (HERE / "results" / "lookalikes.json").write_text(json.dumps(results, indent=1))
    for pipe in pipes.values():
        pipe.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
