"""Loads the labelled texts used for training and evaluation, tagged by source.

Dev data: ``../shared/data`` beside the repository (override with OSP_GUARD_DATA). Synthetic
data: ``bench/governance/data/osp_synthetic.jsonl`` (built by make_data.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@dataclass(frozen=True)
class Row:
    text: str
    label: str  # attack | benign | harmful
    source: str
    category: str


def data_dir() -> Path:
    env = os.environ.get("OSP_GUARD_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def _source_of(row: dict[str, str], file: str) -> str:
    if file == "jailbreak_dev.jsonl":
        return "dev:jailbreak_wild" if row["label"] == "attack" else "dev:alpaca"
    if file == "harmful_dev.jsonl":
        return "dev:advbench" if row["category"] == "advbench" else "dev:harmbench"
    return "dev:bipia_attack" if row["label"] == "attack" else "dev:bipia_email"


def load_dev() -> list[Row]:
    base = data_dir()
    rows: list[Row] = []
    for file in ("jailbreak_dev.jsonl", "harmful_dev.jsonl", "indirect_injection_dev.jsonl"):
        path = base / file
        if not path.exists():
            raise SystemExit(
                f"missing {path}; set OSP_GUARD_DATA to the folder holding the dev data"
            )
        with path.open(encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                rows.append(Row(r["text"], r["label"], _source_of(r, file), r.get("category", "")))
    return rows


def load_synthetic() -> list[Row]:
    rows = []
    with (HERE / "data" / "osp_synthetic.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append(Row(r["text"], r["label"], r["source"], r["source"].split(":")[1]))
    return rows


def load_all() -> list[Row]:
    return load_dev() + load_synthetic()


BENIGN_SOURCES = (
    "dev:alpaca",
    "dev:bipia_email",
    "osp:tasks",
    "osp:persona",
    "osp:pydoc",
    "osp:longchat",
    "osp:chat",
    "osp:support",
    "osp:code",
    "osp:hardneg",
    "osp:email",
    "osp:docs",
)
INJECTION_SOURCES = ("dev:jailbreak_wild", "osp:injection")
# osp:indirect (instructions planted in documents) is evaluation-only: it has only eight distinct
# planted sentences, and training on it taught the model "e-mail = attack".
RETRIEVAL_ATTACK_SOURCES = ("osp:indirect",)
HARMFUL_SOURCES = ("dev:advbench", "dev:harmbench", "osp:harmful")


def task_rows(task: str, rows: list[Row]) -> list[tuple[Row, int]]:
    """(row, y) for a task. Injection: attacks vs benign (harmful requests count as benign:
    they are not injections). Harmful: harmful requests vs benign."""
    out: list[tuple[Row, int]] = []
    for r in rows:
        if task == "injection":
            if r.source in INJECTION_SOURCES:
                out.append((r, 1))
            elif r.source in BENIGN_SOURCES or r.source in HARMFUL_SOURCES:
                out.append((r, 0))
        elif task == "harmful":
            if r.source in HARMFUL_SOURCES:
                out.append((r, 1))
            elif r.source in BENIGN_SOURCES:
                out.append((r, 0))
    return out
