"""Trains the shipped linear detectors and reports leave-one-source-out results.

    python bench/governance/train_detectors.py            # train + write weights
    python bench/governance/train_detectors.py --eval     # also leave-one-source-out table

Reproduces src/osp/governance/detectors/weights/{injection,harmful}.json from the dev data and
bench/governance/data/osp_synthetic.jsonl. Needs scikit-learn and scipy (bench dependencies).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict

import numpy as np

try:
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression
except ImportError:  # pragma: no cover - bench dependency
    print("train_detectors: needs scikit-learn and scipy (pip install scikit-learn)")
    sys.exit(0)

from corpus import Row, load_all, task_rows

from osp.governance.detectors.linear import DIM_BITS, WEIGHTS_DIR, LinearModel, window_features
from osp.governance.detectors.normalize import normalize

C = {"injection": 1.0, "harmful": 4.0}
MAX_WINDOWS = 4


_FEATURES: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}


def _windows_of(text: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Featurised windows of a text, memoised: cross-validation refits on the same texts."""
    feats = _FEATURES.get(text)
    if feats is None:
        feats = window_features(normalize(text).text)[:MAX_WINDOWS]
        _FEATURES[text] = feats
    return feats


def _vectors(rows: list[tuple[Row, int]]) -> tuple[csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    data, indices, indptr, ys, weights, doc = [], [], [0], [], [], []
    per_source = Counter(r.source for r, _ in rows)
    n_sources = Counter(y for _, y in {(r.source, y) for r, y in rows})
    for d, (row, y) in enumerate(rows):
        wins = _windows_of(row.text)
        for idx, vals in wins:
            indices.append(idx)
            data.append(vals)
            indptr.append(indptr[-1] + len(idx))
            ys.append(y)
            # Each source weighs the same within its class, so 3,000 Alpaca rows do not drown 65
            # hard negatives, and the two classes weigh the same in total; each window of a long
            # text shares its document's weight.
            per_class = n_sources[y]
            weights.append(8000.0 / per_source[row.source] / per_class / len(wins))
            doc.append(d)
    x = csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.array(indptr)),
        shape=(len(ys), 1 << DIM_BITS),
    )
    return x, np.array(ys), np.array(weights), np.array(doc)


def fit(task: str, rows: list[tuple[Row, int]]) -> LogisticRegression:
    x, y, w, _ = _vectors(rows)
    clf = LogisticRegression(C=C[task], max_iter=3000, solver="liblinear")
    clf.fit(x, y, sample_weight=w)
    return clf


def doc_scores(clf: LogisticRegression, rows: list[tuple[Row, int]]) -> np.ndarray:
    x, _, _, doc = _vectors(rows)
    p = clf.predict_proba(x)[:, 1]
    out = np.zeros(len(rows))
    np.maximum.at(out, doc, p)
    return out


def to_model(task: str, clf: LogisticRegression, meta: dict[str, object]) -> LinearModel:
    w = clf.coef_[0].astype(np.float32)
    return LinearModel(task, w, float(clf.intercept_[0]), 0.5, meta)


def tpr_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float = 0.01) -> tuple[float, float]:
    neg = np.sort(s[y == 0])
    if len(neg) == 0:
        return float("nan"), float("nan")
    k = min(len(neg) - 1, math.floor((1 - fpr) * len(neg)))
    thr = neg[k]
    return float((s[y == 1] > thr).mean()), float(thr)


def loso(task: str, rows: list[tuple[Row, int]]) -> dict[str, tuple[int, float]]:
    """Leave one source out: train on all other sources, score the held-out one at 0.5."""
    by_source: dict[str, list[tuple[Row, int]]] = defaultdict(list)
    for r in rows:
        by_source[r[0].source].append(r)
    result: dict[str, tuple[int, float]] = {}
    for source, held in sorted(by_source.items()):
        train = [r for r in rows if r[0].source != source]
        clf = fit(task, train)
        s = doc_scores(clf, held)
        result[source] = (len(held), float((s >= 0.5).mean()))
        print(
            f"  {task:9} held-out {source:20} n={len(held):5d} flagged={result[source][1]:.3f}",
            flush=True,
        )
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", action="store_true", help="leave-one-source-out evaluation")
    args = ap.parse_args()
    rows = load_all()
    WEIGHTS_DIR.mkdir(exist_ok=True)
    for task in ("injection", "harmful"):
        tr = task_rows(task, rows)
        counts = Counter((r.source, y) for r, y in tr)
        print(f"{task}: {len(tr)} rows from {len(counts)} sources")
        if args.eval:
            loso(task, tr)
        clf = fit(task, tr)
        meta = {
            "sources": sorted({r.source for r, _ in tr}),
            "rows": len(tr),
            "C": C[task],
            "trained_by": "bench/governance/train_detectors.py",
        }
        model = to_model(task, clf, meta)
        path = WEIGHTS_DIR / f"{task}.json"
        model.save(path)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
