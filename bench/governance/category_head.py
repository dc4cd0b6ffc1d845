"""A learned harm-category head on the encoder vector, measured against the word-stem taxonomy.

    python bench/governance/category_head.py          # measure
    python bench/governance/category_head.py ship     # fit on all rows, write categories.json

Rows: the harmful AILuminate (training set) and HarmBench (dev) rows whose upstream category has
an OSP counterpart (``bench_categories.EXPECTED``), 1,106 rows. Features: the shipped encoder's
mean window vector of the normalised text. Model: multinomial logistic regression (balanced
classes). Measured two ways, both beside the regex taxonomy (`harm_categories.categorise`) on
the same rows:
- held-out source: trained on one source, scored on the other's rows whose category the training
  source has (AILuminate and HarmBench share only weapons and misinformation, so this is small);
- random-row 5-fold cross-validation over both sources (optimistic: same sources in both halves).
``ship`` fits the head on all rows and writes ``categories.json`` beside the shipped encoder,
with its sha256 in the manifest. The rails use it only where the word-stem taxonomy finds no
keyword (``other``): an explicit keyword, e.g. for sexual content involving minors, always wins.
The head belongs to the encoder it was fitted on: re-run ``ship`` after a new encoder.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter

import numpy as np
from bench_categories import EXPECTED
from corpus import load_all

from osp.governance.detectors.encoder import ENCODER_DIR, Encoder
from osp.governance.detectors.harm_categories import categorise
from osp.governance.detectors.normalize import normalize


def main() -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    rows = [r for r in load_all() if r.label == "harmful" and r.category in EXPECTED]
    enc = Encoder()
    texts = [normalize(r.text).text for r in rows]
    x = np.array([enc.embed(t).mean(axis=0) for t in texts])
    y = np.array([EXPECTED[r.category] for r in rows])
    src = np.array([r.source for r in rows])
    regex = np.array([categorise(t) for t in texts])
    print(f"{len(rows)} rows: {dict(Counter(src))}; classes {dict(Counter(y))}")
    if sys.argv[1:] == ["ship"]:
        clf = LogisticRegression(C=4.0, max_iter=3000, class_weight="balanced").fit(x, y)
        doc = {
            "format": "osp-categories-v1",
            "classes": [str(c) for c in clf.classes_],
            "weights": clf.coef_.round(6).tolist(),
            "bias": clf.intercept_.round(6).tolist(),
            "trained_on": f"{len(rows)} harmful rows (AILuminate train, HarmBench dev), "
            "bench/governance/category_head.py ship",
        }
        path = ENCODER_DIR / "categories.json"
        path.write_text(json.dumps(doc, sort_keys=True) + "\n")
        manifest_path = ENCODER_DIR / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest["files"]["categories.json"] = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path} ({manifest['files']['categories.json']})")
        return 0

    def fit(tr: np.ndarray) -> LogisticRegression:
        clf = LogisticRegression(C=4.0, max_iter=3000, class_weight="balanced")
        return clf.fit(x[tr], y[tr])

    def both(got: np.ndarray, te: np.ndarray) -> float:
        """Regex first (an explicit keyword wins), the learned head where the regex says other."""
        return float(np.mean(np.where(regex[te] != "other", regex[te], got) == y[te]))

    print("\n| measure | train | test rows | learned head | regex taxonomy | regex, else learned |")
    print("|---|---|---:|---:|---:|---:|")
    for train_src in sorted(set(src)):
        tr = src == train_src
        te = ~tr & np.isin(y, np.unique(y[tr]))
        got = fit(tr).predict(x[te])
        print(
            f"| held-out source | {train_src} | {te.sum()} | {np.mean(got == y[te]):.3f} | "
            f"{np.mean(regex[te] == y[te]):.3f} | {both(got, te):.3f} |"
        )
    pred = np.empty_like(y)
    for tr_i, te_i in StratifiedKFold(5, shuffle=True, random_state=0).split(x, y):
        pred[te_i] = fit(tr_i).predict(x[te_i])
    print(
        f"| random-row 5-fold | both | {len(y)} | {np.mean(pred == y):.3f} | "
        f"{np.mean(regex == y):.3f} | {both(pred, np.ones(len(y), bool)):.3f} |"
    )
    print("\nper class (random-row 5-fold): class | n | learned | regex")
    for c in sorted(set(y)):
        m = y == c
        print(f"  {c} | {m.sum()} | {np.mean(pred[m] == c):.2f} | {np.mean(regex[m] == c):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
