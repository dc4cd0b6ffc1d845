"""Compares `finetune_encoder.py eval` runs on the sources they all scored.

    python bench/governance/compare_evals.py results/finetune_eval.json \
        results/finetune_eval_pairs.json

Runs with different training data also differ in what they hold out (a new source adds a new
held-out column), so their pooled figures are not comparable. This prints, per task and
threshold, the macro balanced accuracy over the (source, label) cells every run has: mean
recall over attack/harmful/planted cells and mean pass rate over benign cells, halved; plus the
mean flag rate on the hard-negative and chat cells among them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from corpus import CHAT_SOURCES, HARD_SOURCES

TASKS = ("injection", "harmful", "retrieval")


def cells(path: Path) -> dict[str, list[float]]:
    """``task:source:label`` -> fine-tuned flag rate at 0.5 and 0.9. Reads the JSON `eval`
    writes, or the Markdown tables it prints (kept as .txt for runs before the JSON existed)."""
    if path.suffix == ".txt":
        out, task = {}, ""
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("### "):
                task = line[4:].split(":")[0]
            cols = [c.strip() for c in line.strip("|").split("|")]
            if task in TASKS and len(cols) == 7 and cols[1] in ("pos", "neg"):
                out[f"{task}:{cols[0]}:{int(cols[1] == 'pos')}"] = [float(cols[5]), float(cols[6])]
        return out
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {k: v["finetuned"] for k, v in doc["per_source"].items() if k.split(":")[0] in TASKS}


def main() -> int:
    paths = [Path(p) for p in sys.argv[1:]]
    if not paths:
        print(__doc__)
        return 2
    runs = {p.name: cells(p) for p in paths}
    common = set.intersection(*(set(c) for c in runs.values()))
    print("| task | threshold | cells | " + " | ".join(runs) + " |")
    print("|---|---:|---:|" + "---:|" * len(runs))
    for task in TASKS:
        keys = sorted(k for k in common if k.startswith(task + ":"))
        pos = [k for k in keys if k.endswith(":1")]
        neg = [k for k in keys if k.endswith(":0")]
        hard = [k for k in neg if k.split(":", 1)[1].rsplit(":", 1)[0] in HARD_SOURCES]
        chat = [k for k in neg if k.split(":", 1)[1].rsplit(":", 1)[0] in CHAT_SOURCES]
        for i, t in enumerate((0.5, 0.9)):
            row = []
            for c in runs.values():
                tpr = sum(c[k][i] for k in pos) / max(1, len(pos))
                tnr = 1 - sum(c[k][i] for k in neg) / max(1, len(neg))
                extra = ""
                if hard and chat:
                    fh = sum(c[k][i] for k in hard) / len(hard)
                    fc = sum(c[k][i] for k in chat) / len(chat)
                    extra = f" (chat {fc:.3f}, hard {fh:.3f})"
                row.append(f"{(tpr + tnr) / 2:.3f}{extra}")
            print(f"| {task} | {t} | {len(pos)}+{len(neg)} | " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
