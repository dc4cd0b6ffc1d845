"""Chooses the encoder heads' thresholds without looking at the group they are measured on.

    python bench/governance/tune_thresholds.py   # reads results/finetune_eval_scores.json

Input: the held-out scores written by ``finetune_encoder.py eval`` (three source groups; each
group scored by a model fine-tuned on the other two). Cross-fitted choice: for held-out group g
the threshold is chosen on the held-out scores of the *other* groups only (each of those came
from a model that never saw them either), then applied to g; the figures pooled over the three
groups are therefore measured on text that neither the model nor the threshold choice saw. The
shipped threshold is the same rule applied to all three groups' scores.

Rules (fixed before looking at any result):
- injection: the lowest threshold with chat FP <= 1% and hard-negative FP <= 3% on the
  validation groups; if none exists, the threshold with the best balanced accuracy against hard
  negatives ((TPR + 1 - hard FP) / 2) among those with chat FP <= 1%.
- harmful: the lowest threshold with <= 2% of benign requests flagged.
- document: the lowest threshold with <= 2% of clean documents flagged.
Prints the held-out trade-off curve per head and writes results/thresholds.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from corpus import CHAT_SOURCES, HARD_SOURCES

HERE = Path(__file__).resolve().parent
GRID = [round(x, 3) for x in (*np.arange(0.05, 0.95, 0.05), *np.arange(0.95, 0.9975, 0.005))]
TASKS = (("injection", 0, "chat"), ("harmful", 1, "chat"), ("document", 2, "doc-eval"))


def _rate(mask: np.ndarray, s: np.ndarray, t: float) -> float | None:
    return float((s[mask] >= t).mean()) if mask.any() else None


def metrics(rows: list[dict[str, Any]], h: int, t: float) -> dict[str, Any]:
    y = np.array([r["labels"][h] for r in rows])
    s = np.array([r["finetuned"][h] for r in rows])
    src = np.array([r["source"] for r in rows])
    neg = y == 0
    return {
        "tpr": _rate(y == 1, s, t),
        "fpr": _rate(neg, s, t),
        "fpr_chat": _rate(neg & np.isin(src, CHAT_SOURCES), s, t),
        "fpr_hard": _rate(neg & np.isin(src, HARD_SOURCES), s, t),
    }


def choose(task: str, rows: list[dict[str, Any]], h: int) -> tuple[float, str]:
    curve = [(t, metrics(rows, h, t)) for t in GRID]
    if task == "injection":
        ok = [t for t, m in curve if m["fpr_chat"] <= 0.01 and m["fpr_hard"] <= 0.03]
        if ok:
            return ok[0], "goal constraints met"
        fallback = [(t, m) for t, m in curve if m["fpr_chat"] <= 0.01] or curve
        t, _ = max(fallback, key=lambda c: (c[1]["tpr"] + 1 - c[1]["fpr_hard"], -c[0]))
        return t, "goal infeasible: best balanced accuracy vs hard negatives at chat FP <= 1%"
    ok = [t for t, m in curve if m["fpr"] <= 0.02]
    return (ok[0], "FP <= 2%") if ok else (GRID[-1], "FP <= 2% infeasible: highest threshold")


def _pooled(flagged: dict[int, bool], sel: list[dict[str, Any]]) -> float | None:
    return float(np.mean([flagged[id(r)] for r in sel])) if sel else None


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def main() -> int:
    items = json.loads((HERE / "results" / "finetune_eval_scores.json").read_text())
    out: dict[str, Any] = {}
    for task, h, kind in TASKS:
        rows = [r for r in items if r["labels"][h] >= 0 and r["kind"] == kind]
        folds = []
        for g in (0, 1, 2):
            t, why = choose(task, [r for r in rows if r["group"] != g], h)
            test = [r for r in rows if r["group"] == g]
            folds.append({"group": g, "threshold": t, "rule": why, **metrics(test, h, t)})
        # Pooled held-out figures at the cross-fitted thresholds (each group at its own).
        flagged = {
            id(r): r["finetuned"][h] >= f["threshold"]
            for f in folds
            for r in rows
            if r["group"] == f["group"]
        }
        neg = [r for r in rows if r["labels"][h] == 0]
        cross = {
            "tpr": _pooled(flagged, [r for r in rows if r["labels"][h] == 1]),
            "fpr": _pooled(flagged, neg),
            "fpr_chat": _pooled(flagged, [r for r in neg if r["source"] in CHAT_SOURCES]),
            "fpr_hard": _pooled(flagged, [r for r in neg if r["source"] in HARD_SOURCES]),
        }
        ship, why = choose(task, rows, h)
        curve = {t: metrics(rows, h, t) for t in GRID}
        out[task] = {"folds": folds, "cross_fitted": cross, "ship": ship, "rule": why}
        out[task]["curve"] = curve
        print(f"\n### {task}: held-out trade-off (pooled over the three held-out groups)\n")
        print("| threshold | TPR | FP all negatives | FP chat | FP hard negatives |")
        print("|---:|---:|---:|---:|---:|")
        for t in GRID:
            if t in (0.3, 0.5, 0.7, 0.8, 0.9) or t >= 0.95:
                m = curve[t]
                print(
                    f"| {t} | {_fmt(m['tpr'])} | {_fmt(m['fpr'])} | {_fmt(m['fpr_chat'])} | "
                    f"{_fmt(m['fpr_hard'])} |"
                )
        print("\nCross-fitted (threshold chosen on the other two groups):")
        for f in folds:
            print(
                f"  group {f['group']} at {f['threshold']} ({f['rule']}): TPR {_fmt(f['tpr'])}, "
                f"FP {_fmt(f['fpr'])}, chat {_fmt(f['fpr_chat'])}, hard {_fmt(f['fpr_hard'])}"
            )
        print(
            f"  pooled: TPR {_fmt(cross['tpr'])}, FP {_fmt(cross['fpr'])}, "
            f"chat {_fmt(cross['fpr_chat'])}, hard {_fmt(cross['fpr_hard'])}"
        )
        print(f"  shipped threshold (all three groups as validation): {ship} ({why})")
    (HERE / "results" / "thresholds.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
