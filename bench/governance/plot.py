"""Draws docs/governance-bench.png from bench/governance/results/*.json.

python bench/governance/plot.py     (after bench_latency.py and bench_detection.py)
"""

from __future__ import annotations

import json
import sys

from corpus import HERE, REPO


def main() -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return 0
    latency = json.loads((HERE / "results" / "latency.json").read_text())
    detection = json.loads((HERE / "results" / "detection.json").read_text())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [1, 1.6]})

    rows = [r for r in latency["stages"] if r["stage"] != "retrieval"]
    labels = [f"{r['stage']}\n({r['mix']})" for r in rows]
    xs = range(len(rows))
    ax1.bar([x - 0.3 for x in xs], [r["p50"] for r in rows], 0.2, label="p50 wall")
    ax1.bar([x - 0.1 for x in xs], [r["p99"] for r in rows], 0.2, label="p99 wall")
    ax1.bar([x + 0.1 for x in xs], [r.get("cpu_p50", 0) for r in rows], 0.2, label="p50 CPU time")
    ax1.bar([x + 0.3 for x in xs], [r.get("cpu_p99", 0) for r in rows], 0.2, label="p99 CPU time")
    ax1.axhline(5, color="green", ls="--", lw=1, label="goal p50 (input+output) 5 ms")
    ax1.axhline(25, color="red", ls="--", lw=1, label="goal p99 (input+output) 25 ms")
    ax1.set_xticks(list(xs), labels, fontsize=8)
    ax1.set_ylabel("ms per message, one core")
    ax1.set_title("Lean stage latency, one core (shared VM under load)")
    ax1.legend(fontsize=8)

    items = []
    for task, sources in detection.items():
        for src, r in sources.items():
            items.append((f"{task}: {src}", r))
    names = [n for n, _ in items]
    y = range(len(items))
    ax2.barh(
        [i + 0.2 for i in y],
        [r["held_out_shipped"] for _, r in items],
        0.4,
        label="held out (source unseen)",
    )
    ax2.barh([i - 0.2 for i in y], [r["cv_shipped"] for _, r in items], 0.4, label="random-row CV")
    ax2.set_yticks(list(y), names, fontsize=7)
    ax2.invert_yaxis()
    ax2.set_xlim(0, 1)
    ax2.set_xlabel("fraction flagged (attack/harmful rows: want 1; benign rows: want 0)")
    ax2.set_title("Detection as shipped (model + evidence gate + rules)")
    ax2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = REPO / "docs" / "governance-bench.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
