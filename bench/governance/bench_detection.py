"""Detection quality, evaluated by holding out whole sources.

    python bench/governance/bench_detection.py

For every source, a model is trained on all *other* sources (train_detectors.fit) and scores the
held-out one, so no number below comes from a source the scoring model saw. The shipped rules are
then combined as in the rails (score = max(model, rule)). Thresholds are the lean defaults.

Prints: per-source flag rates; TPR at 1% FPR; balanced accuracy; false-positive rate on ordinary
chat and on hard negatives; the retrieval rail on planted instructions.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np
from corpus import HERE, RETRIEVAL_ATTACK_SOURCES, Row, load_all, task_rows
from train_detectors import doc_scores, fit, tpr_at_fpr

from osp.governance.detectors.classify import Classifier, model_counts
from osp.governance.detectors.linear import ModelStore
from osp.governance.detectors.normalize import normalize
from osp.governance.detectors.rules import (
    ATTACK_EVIDENCE,
    HARM_RULES,
    INJECTION_RULES,
    RETRIEVAL_RULES,
    Rule,
    best,
    evidence,
)
from osp.governance.policy import Thresholds

CHAT_SOURCES = ("dev:alpaca", "osp:chat", "osp:support", "osp:tasks", "osp:code")
HARD_SOURCES = ("osp:hardneg", "osp:persona")
CACHE = HERE / ".loso_scores.json"
RESULTS: dict[str, dict[str, dict[str, object]]] = {}
THRESHOLD = {"injection": Thresholds().injection, "harmful": Thresholds().harmful}


def loso_scores(task: str, rows: list[tuple[Row, int]]) -> np.ndarray:
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, (r, _) in enumerate(rows):
        by_source[r.source].append(i)
    scores = np.zeros(len(rows))
    for source, idx in sorted(by_source.items()):
        train = [rows[i] for i in range(len(rows)) if rows[i][0].source != source]
        clf = fit(task, train)
        scores[idx] = doc_scores(clf, [rows[i] for i in idx])
        print(f"  [{task}] scored held-out {source} ({len(idx)})", file=sys.stderr, flush=True)
    return scores


def rule_scores(rows: list[tuple[Row, int]], rules: tuple[Rule, ...]) -> np.ndarray:
    return np.array([best(rules, normalize(r.text).text)[0] for r, _ in rows])


def cv_scores(task: str, rows: list[tuple[Row, int]], folds: int = 5) -> np.ndarray:
    """Random-row 5-fold cross-validation: the in-distribution figure, for contrast only."""
    order = np.random.default_rng(0).permutation(len(rows))
    scores = np.zeros(len(rows))
    for k in range(folds):
        test = set(order[k::folds].tolist())
        clf = fit(task, [rows[i] for i in range(len(rows)) if i not in test])
        idx = sorted(test)
        scores[idx] = doc_scores(clf, [rows[i] for i in idx])
        print(f"  [{task}] cv fold {k}", file=sys.stderr, flush=True)
    return scores


def gate(rows: list[tuple[Row, int]], task: str, scores: np.ndarray) -> np.ndarray:
    if task != "injection":
        return np.ones(len(rows), dtype=bool)
    words = [evidence(normalize(r.text).text, ATTACK_EVIDENCE) for r, _ in rows]
    return np.array([model_counts(w, float(s)) for w, s in zip(words, scores, strict=True)])


def report(
    task: str, rows: list[tuple[Row, int]], model: np.ndarray, rules: np.ndarray, cv: np.ndarray
) -> None:
    y = np.array([lab for _, lab in rows])
    thr = THRESHOLD[task]
    shipped = np.maximum(np.where(gate(rows, task, model), model, 0.0), rules)
    cv_shipped = np.maximum(np.where(gate(rows, task, cv), cv, 0.0), rules)
    trio = (model, shipped, cv_shipped)
    RESULTS[task] = {}
    label_of = {r.source: lab for r, lab in rows}
    sources = sorted(label_of, key=lambda s: (-label_of[s], s))
    head = "| model only, held out | as shipped, held out | as shipped, random-row CV |"
    print(f"\n### {task}: flagged at the lean threshold {thr}, per source\n")
    print(f"| source | label | n {head}")
    print("|---|---|---:|---:|---:|---:|")
    for src in sources:
        m = np.array([r.source == src for r, _ in rows])
        label = "attack" if label_of[src] == 1 else "benign"
        rates = " | ".join(f"{(s[m] >= thr).mean():.3f}" for s in trio)
        print(f"| {src} | {label} | {m.sum()} | {rates} |")
        RESULTS[task][src] = {
            "label": label, "n": int(m.sum()),
            "held_out_model": float((model[m] >= thr).mean()),
            "held_out_shipped": float((shipped[m] >= thr).mean()),
            "cv_shipped": float((cv_shipped[m] >= thr).mean()),
        }  # fmt: skip

    def bal(s: np.ndarray) -> float:
        return float(((s[y == 1] >= thr).mean() + (s[y == 0] < thr).mean()) / 2)

    def macro(s: np.ndarray) -> float:
        # Mean of per-source accuracies: each source counts once, whatever its size.
        accs = []
        for src in sources:
            m = np.array([r.source == src for r, _ in rows])
            accs.append(((s[m] >= thr) == (y[m] == 1)).mean())
        return float(np.mean(accs))

    print(f"\n### {task}: pooled\n")
    print(f"| metric {head}")
    print("|---|---:|---:|---:|")
    print(f"| TPR at 1% FPR | {' | '.join(f'{tpr_at_fpr(y, s)[0]:.3f}' for s in trio)} |")
    print(f"| balanced accuracy at {thr} | {' | '.join(f'{bal(s):.3f}' for s in trio)} |")
    print(f"| accuracy, mean over sources | {' | '.join(f'{macro(s):.3f}' for s in trio)} |")
    for label, group in (("ordinary chat", CHAT_SOURCES), ("hard negatives", HARD_SOURCES)):
        m = np.array([r.source in group for r, _ in rows])
        if m.any():
            rates = " | ".join(f"{(s[m] >= thr).mean():.3f}" for s in trio)
            print(f"| FPR on {label} ({', '.join(group)}) | {rates} |")


def retrieval_report(rows: list[Row]) -> None:
    clf = Classifier(ModelStore(), "injection", RETRIEVAL_RULES)
    print("\n### retrieval rail (shipped model + retrieval rules), flagged at 0.5\n")
    print("| set | label | n | flagged |")
    print("|---|---|---:|---:|")
    groups = {
        "osp:indirect (instruction planted in a document)": [
            r for r in rows if r.source in RETRIEVAL_ATTACK_SOURCES
        ],
        "dev:bipia_attack planted in BIPIA e-mails": _bipia_planted(rows),
        "dev:bipia_email (clean)": [r for r in rows if r.source == "dev:bipia_email"],
        "osp:email (clean)": [r for r in rows if r.source == "osp:email"],
        "osp:docs (clean)": [r for r in rows if r.source == "osp:docs"],
    }
    for name, group in groups.items():
        if not group:
            continue
        flagged = np.mean([clf.classify(r.text).score >= 0.5 for r in group])
        print(f"| {name} | {group[0].label} | {len(group)} | {flagged:.3f} |")
    print(
        "\n(clean sets above were in the shipped model's training data; osp:indirect and the "
        "planted BIPIA attacks were not)"
    )


def _bipia_planted(rows: list[Row]) -> list[Row]:
    emails = [r.text for r in rows if r.source == "dev:bipia_email"]
    attacks = [r.text for r in rows if r.source == "dev:bipia_attack"]
    out = []
    for i, a in enumerate(attacks):
        host = emails[i % len(emails)] if emails else ""
        mid = len(host) // 2
        out.append(Row(host[:mid] + "\n" + a + "\n" + host[mid:], "attack", "bipia_planted", ""))
    return out


def main() -> int:
    rows = load_all()
    cache: dict[str, list[float]] = {}
    if CACHE.exists() and "--fresh" not in sys.argv:
        cache = json.loads(CACHE.read_text())
    for task, rules in (("injection", INJECTION_RULES), ("harmful", HARM_RULES)):
        tr = task_rows(task, rows)
        key = f"{task}:{len(tr)}"
        if key not in cache:
            cache[key] = loso_scores(task, tr).tolist()
            CACHE.write_text(json.dumps(cache))
        if "cv:" + key not in cache:
            cache["cv:" + key] = cv_scores(task, tr).tolist()
            CACHE.write_text(json.dumps(cache))
        cv = np.array(cache["cv:" + key])
        report(task, tr, np.array(cache[key]), rule_scores(tr, rules), cv)
    retrieval_report(rows)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "detection.json").write_text(json.dumps(RESULTS, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
