"""Leave-one-source-out ablation: which parts of the detector help on sources it never saw.

    python bench/governance/loso.py [--task injection|harmful] [--cap 1500] [--variants a,b]

For every source, each variant is trained on all *other* sources and scores the held-out one.
Variants (the shipped design taken apart, and a plain baseline):

- ``hashed+gate+rules``: the detector as shipped before issue 15 (hashed char n-grams, source
  weighting, the "needs attack-evidence words" gate, max with the hand rules).
- ``hashed+rules``: the same without the evidence gate.
- ``hashed``: the hashed model alone.
- ``tfidf``: plain char TF-IDF (char_wb 1-5, sublinear tf, min_df 2) + logistic regression,
  class-balanced.
- ``tfidf+srcw``: the same with every source weighing the same within its class.
- ``tfidf+rules``: tfidf, max with the hand rules.

Rows per source are capped (``--cap``, seeded) so the 25-odd refits fit a shared 2-core box.
TF-IDF columns and idf come from the training fold only (counts are computed once, then the
held-out rows are dropped before document frequencies are taken).

Prints per-source flag rates at 0.5 and pooled figures; writes results/loso_<task>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict

import numpy as np
from corpus import CHAT_SOURCES, HARD_SOURCES, HERE, Row, load_all, task_rows

try:
    from scipy.sparse import csr_matrix, diags
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
except ImportError:  # pragma: no cover - bench dependency
    print("loso: needs scikit-learn and scipy (pip install -e '.[bench]')")
    sys.exit(0)

from osp.governance.detectors.classify import model_counts
from osp.governance.detectors.normalize import normalize
from osp.governance.detectors.rules import ATTACK_EVIDENCE, HARM_RULES, INJECTION_RULES, best
from osp.governance.detectors.rules import evidence as evidence_words

THR = 0.5
ALL_VARIANTS = (
    "hashed+gate+rules",
    "hashed+rules",
    "hashed",
    "tfidf",
    "tfidf+srcw",
    "tfidf+rules",
    "emb",
    "emb+rules",
    "tfidf+emb",
    "tfidf+emb+rules",
)
EMB_C = 4.0
TFIDF_C = 4.0
MAX_CHARS = 6000


def cap_rows(rows: list[tuple[Row, int]], cap: int) -> list[tuple[Row, int]]:
    by: dict[str, list[tuple[Row, int]]] = defaultdict(list)
    for r in rows:
        by[r[0].source].append(r)
    out: list[tuple[Row, int]] = []
    for src in sorted(by):
        group = by[src]
        if len(group) > cap:
            group = random.Random(7).sample(group, cap)
        out.extend(group)
    return out


def source_weights(rows: list[tuple[Row, int]]) -> np.ndarray:
    """Each source weighs the same within its class; both classes weigh the same in total."""
    per_source = Counter(r.source for r, _ in rows)
    n_sources = Counter(y for _, y in {(r.source, y) for r, y in rows})
    w = np.array([1.0 / per_source[r.source] / n_sources[y] for r, y in rows])
    return w * len(rows) / w.sum()


class Tfidf:
    """Char TF-IDF whose vocabulary and idf are taken from the training rows of each fold."""

    def __init__(self, texts: list[str]) -> None:
        vec = CountVectorizer(
            analyzer="char_wb", ngram_range=(1, 5), lowercase=False, dtype=np.float32
        )
        t0 = time.perf_counter()
        self.counts = vec.fit_transform(texts).tocsr()
        print(f"  counted {self.counts.shape} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)

    def matrices(self, train: np.ndarray, test: np.ndarray) -> tuple[csr_matrix, csr_matrix]:
        xtr = self.counts[train]
        df = np.asarray((xtr > 0).sum(axis=0)).ravel()
        cols = np.flatnonzero(df >= 2)
        idf = np.log((1 + len(train)) / (1 + df[cols])) + 1
        out = []
        for x in (xtr[:, cols], self.counts[test][:, cols]):
            x = x.copy()
            x.data = 1 + np.log(x.data)
            x = x @ diags(idf.astype(np.float32))
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
            norms[norms == 0] = 1
            out.append(diags(1 / norms) @ x)
        return out[0].tocsr(), out[1].tocsr()


def tfidf_fold(
    tf: Tfidf, rows: list[tuple[Row, int]], train: np.ndarray, test: np.ndarray, srcw: bool
) -> np.ndarray:
    xtr, xte = tf.matrices(train, test)
    y = np.array([lab for _, lab in rows])
    clf = LogisticRegression(
        C=TFIDF_C, max_iter=2000, solver="liblinear", class_weight=None if srcw else "balanced"
    )
    tr_rows = [rows[i] for i in train]
    clf.fit(xtr, y[train], sample_weight=source_weights(tr_rows) if srcw else None)
    return clf.predict_proba(xte)[:, 1]


def emb_fold(
    embs: list[np.ndarray], y: np.ndarray, train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """Logistic head on frozen MiniLM window vectors; every window carries its document's label
    and an equal share of its weight; a document scores as its highest window."""
    xs = np.concatenate([embs[i] for i in train])
    ys = np.concatenate([np.full(len(embs[i]), y[i]) for i in train])
    ws = np.concatenate([np.full(len(embs[i]), 1.0 / len(embs[i])) for i in train])
    clf = LogisticRegression(C=EMB_C, max_iter=3000, class_weight="balanced")
    clf.fit(xs, ys, sample_weight=ws)
    return np.array([clf.predict_proba(embs[i])[:, 1].max() for i in test])


def run(task: str, cap: int, variants: tuple[str, ...]) -> dict[str, object]:
    rows = cap_rows(task_rows(task, load_all()), cap)
    norm = [normalize(r.text).text for r, _ in rows]
    y = np.array([lab for _, lab in rows])
    sources = sorted({r.source for r, _ in rows})
    print(
        f"{task}: {len(rows)} rows, {len(sources)} sources, attacks {int(y.sum())}", file=sys.stderr
    )
    rules = INJECTION_RULES if task == "injection" else HARM_RULES
    rule_s = np.array([best(rules, t)[0] for t in norm])
    gate_w = np.array([evidence_words(t, ATTACK_EVIDENCE) for t in norm])
    scores = {v: np.zeros(len(rows)) for v in variants}
    tf = (
        Tfidf([t[:MAX_CHARS] for t in norm])
        if any(v.startswith("tfidf") for v in variants)
        else None
    )
    want_hashed = any(v.startswith("hashed") for v in variants)
    embs: list[np.ndarray] = []
    if any("emb" in v for v in variants):
        from embed_cache import EmbedCache

        cache = EmbedCache()
        embs = [cache.get(r.text) for r, _ in rows]
        cache.flush()
    if want_hashed:
        from train_detectors import doc_scores, fit
    src_of = np.array([r.source for r, _ in rows])
    for src in sources:
        test = np.flatnonzero(src_of == src)
        train = np.flatnonzero(src_of != src)
        t0 = time.perf_counter()
        if want_hashed:
            clf = fit(task, [rows[i] for i in train])
            h = doc_scores(clf, [rows[i] for i in test])
            for v in variants:
                if v == "hashed":
                    scores[v][test] = h
                elif v == "hashed+rules":
                    scores[v][test] = np.maximum(h, rule_s[test])
                elif v == "hashed+gate+rules":
                    gated = h.copy()
                    if task == "injection":
                        ok = np.array(
                            [
                                model_counts(int(w), float(s))
                                for w, s in zip(gate_w[test], h, strict=True)
                            ]
                        )
                        gated = np.where(ok, h, 0.0)
                    scores[v][test] = np.maximum(gated, rule_s[test])
        e = emb_fold(embs, y, train, test) if embs else None
        if tf is not None:
            plain = tfidf_fold(tf, rows, train, test, srcw=False)
            if e is not None:
                for v, both in (
                    ("tfidf+emb", (plain + e) / 2),
                    ("tfidf+emb+rules", np.maximum((plain + e) / 2, rule_s[test])),
                ):
                    if v in variants:
                        scores[v][test] = both
            for v in variants:
                if v == "tfidf":
                    scores[v][test] = plain
                elif v == "tfidf+rules":
                    scores[v][test] = np.maximum(plain, rule_s[test])
            if "tfidf+srcw" in variants:
                scores["tfidf+srcw"][test] = tfidf_fold(tf, rows, train, test, srcw=True)
        if e is not None:
            for v, val in (("emb", e), ("emb+rules", np.maximum(e, rule_s[test]))):
                if v in variants:
                    scores[v][test] = val
        print(
            f"  [{task}] held out {src} ({len(test)}) in {time.perf_counter() - t0:.0f}s",
            file=sys.stderr,
            flush=True,
        )
    np.savez(
        HERE / ".emb_cache" / f"loso_scores_{task}.npz",
        y=y,
        src=np.array([r.source for r, _ in rows]),
        **{k.replace("+", "_"): v for k, v in scores.items()},
    )
    return summarise(task, rows, y, scores)


def summarise(
    task: str, rows: list[tuple[Row, int]], y: np.ndarray, scores: dict[str, np.ndarray]
) -> dict[str, object]:
    src_of = np.array([r.source for r, _ in rows])
    label_of = {r.source: lab for r, lab in rows}
    sources = sorted(label_of, key=lambda s: (-label_of[s], s))
    names = list(scores)
    print(f"\n### {task}: leave-one-source-out, flagged at {THR}, per held-out source\n")
    print("| source | label | n | " + " | ".join(names) + " |")
    print("|---|---|---:|" + "---:|" * len(names))
    per_source: dict[str, dict[str, float]] = {}
    for src in sources:
        m = src_of == src
        lab = "attack" if label_of[src] == 1 else "benign"
        # Sources with both labels (S-Labs, neuralchemy) are reported per label.
        for part, pm in (("", m & (y == 1)), ("", m & (y == 0))):
            if not pm.any():
                continue
            lab = "attack" if y[pm][0] == 1 else "benign"
            rates = {v: float((scores[v][pm] >= THR).mean()) for v in names}
            per_source[f"{src}:{lab}"] = {"n": int(pm.sum()), **rates}
            print(
                f"| {src}{part} | {lab} | {int(pm.sum())} | "
                + " | ".join(f"{rates[v]:.3f}" for v in names)
                + " |"
            )
    pooled: dict[str, dict[str, float]] = {}
    chat = np.isin(src_of, CHAT_SOURCES)
    hard = np.isin(src_of, HARD_SOURCES)
    for v in names:
        s = scores[v]
        tpr = float((s[y == 1] >= THR).mean())
        tnr = float((s[y == 0] < THR).mean())
        att = [k for k in per_source if k.endswith(":attack")]
        ben = [k for k in per_source if k.endswith(":benign")]
        macro = (
            np.mean([per_source[k][v] for k in att]) + np.mean([1 - per_source[k][v] for k in ben])
        ) / 2
        pooled[v] = {
            "tpr": tpr,
            "tnr": tnr,
            "balanced_accuracy": (tpr + tnr) / 2,
            "macro_balanced_accuracy": float(macro),
            "fpr_chat": float((s[chat] >= THR).mean()) if chat.any() else float("nan"),
            "fpr_hard": float((s[hard] >= THR).mean()) if hard.any() else float("nan"),
        }
    print(f"\n### {task}: pooled over held-out sources\n")
    print("| metric | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for metric in ("balanced_accuracy", "macro_balanced_accuracy", "tpr", "fpr_chat", "fpr_hard"):
        print(f"| {metric} | " + " | ".join(f"{pooled[v][metric]:.3f}" for v in names) + " |")
    return {"threshold": THR, "per_source": per_source, "pooled": pooled}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=("injection", "harmful"), default="injection")
    ap.add_argument("--cap", type=int, default=1500)
    ap.add_argument("--variants", default=",".join(ALL_VARIANTS))
    args = ap.parse_args()
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = set(variants) - set(ALL_VARIANTS)
    if unknown:
        print(f"unknown variant(s) {sorted(unknown)}; known: {', '.join(ALL_VARIANTS)}")
        return 2
    result = run(args.task, args.cap, variants)
    out = HERE / "results" / f"loso_{args.task}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cap": args.cap, **result}, indent=1))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
