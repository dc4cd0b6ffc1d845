"""Window embeddings of corpus texts with the shipped encoder, cached on disk by text digest.

    python bench/governance/embed_cache.py [--cap 1200]    # fill the cache for all sources

The cache (``.emb_cache/``, not committed) only speeds up train_heads.py and loso_semantic.py;
the vectors come from the same ``Encoder.embed`` the rails run, on the same normalised text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from corpus import HERE, Row, load_all

from osp.governance.detectors.encoder import ENCODER_DIR, Encoder
from osp.governance.detectors.normalize import normalize

# One cache per encoder artefact: vectors of a replaced (e.g. fine-tuned) encoder never mix in.
_ONNX_SHA = json.loads((ENCODER_DIR / "manifest.json").read_text())["files"]["encoder.onnx"]
CACHE_DIR = HERE / ".emb_cache" / _ONNX_SHA[:16]
MAX_WINDOWS_TRAIN = 4


def key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


class EmbedCache:
    def __init__(self, encoder: Encoder | None = None) -> None:
        self._enc = encoder
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        self._mem: dict[str, np.ndarray] = {}
        for shard in sorted(CACHE_DIR.glob("*.npz")):
            with np.load(shard) as z:
                for k in z.files:
                    self._mem[k] = z[k]
        self._new: dict[str, np.ndarray] = {}

    def get(self, text: str) -> np.ndarray:
        """(windows, 384) for the normalised text; at most MAX_WINDOWS_TRAIN windows kept
        (the first ones and the last one)."""
        k = key(text)
        hit = self._mem.get(k)
        if hit is None:
            if self._enc is None:
                self._enc = Encoder(ENCODER_DIR, with_heads=False)
            emb = self._enc.embed(normalize(text).text, keep=MAX_WINDOWS_TRAIN)
            hit = emb.astype(np.float16)
            self._mem[k] = hit
            self._new[k] = hit
            if len(self._new) >= 2000:
                self.flush()
        return hit.astype(np.float32)

    def flush(self) -> None:
        if self._new:
            path = CACHE_DIR / f"shard-{int(time.time() * 1000)}.npz"
            np.savez(path, **self._new)
            self._new = {}


def capped(rows: list[Row], cap: int) -> list[Row]:
    import random
    from collections import defaultdict

    by: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by[r.source].append(r)
    out: list[Row] = []
    for src in sorted(by):
        group = by[src]
        if len(group) > cap:
            group = random.Random(7).sample(group, cap)
        out.extend(group)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=1200)
    args = ap.parse_args()
    rows = capped(load_all(), args.cap)
    cache = EmbedCache()
    t0 = time.perf_counter()
    for i, r in enumerate(rows):
        cache.get(r.text)
        if i % 1000 == 0:
            print(f"  {i}/{len(rows)} {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    cache.flush()
    print(f"embedded {len(rows)} rows in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["CACHE_DIR", "EmbedCache", "Path", "capped"]
