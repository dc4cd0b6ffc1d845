"""Hashed n-gram features and a linear (logistic) scorer whose weights ship as JSON.

Features: character 2..6- and 8-grams of the normalised text (padded with spaces, so short
words and word pairs appear whole), hashed into 2**20 buckets, log-scaled counts,
L2-normalised. Long texts are scored in overlapping windows and the highest window wins, so an
instruction buried in a long document is not diluted.

Weights are stored as zlib+base64 arrays inside JSON rather than pickles: loading a pickle runs
code, and a weights file must never be able to do that.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DIM_BITS = 20
CHAR_N = (2, 3, 4, 5, 6, 8)
WINDOW = 1500
STRIDE = 1000
WEIGHTS_DIR = Path(__file__).with_name("weights")
_U64 = np.uint64
_FNV_PRIME = _U64(0x100000001B3)
_MIX = _U64(0xFF51AFD7ED558CCD)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    h = h ^ (h >> _U64(33))
    h = h * _MIX
    return h ^ (h >> _U64(29))


def _ngram_hashes(text: str) -> list[npt.NDArray[np.uint64]]:
    """One array per n: the bucket hash of the n-gram starting at each position of " text "."""
    cps = np.frombuffer(f" {text} ".encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cps = cps.astype(np.uint64)
    length = len(cps)
    out = []
    for n in CHAR_N:
        if length < n:
            continue
        h = np.full(length - n + 1, (n * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
        for k in range(n):
            h = (h ^ cps[k : length - n + 1 + k]) * _FNV_PRIME
        out.append(_mix(h) & _U64((1 << DIM_BITS) - 1))
    return out


def _vector(buckets: npt.NDArray[np.uint64]) -> tuple[IntArray, FloatArray]:
    idx, counts = np.unique(buckets.astype(np.int64), return_counts=True)
    vals = np.log1p(counts).astype(np.float32)
    norm = float(np.sqrt(np.dot(vals, vals)))
    if norm > 0:
        vals /= norm
    return idx, vals


def window_features(text: str) -> list[tuple[IntArray, FloatArray]]:
    """Sparse vectors (bucket indices, log-count values, L2-normalised) of each window.

    Hashes are computed once for the whole text; a window takes the n-grams that start in it.
    """
    per_n = _ngram_hashes(text)
    if len(text) <= WINDOW:
        return [_vector(np.concatenate(per_n))]
    out = []
    for start in range(0, len(text) - WINDOW + STRIDE, STRIDE):
        out.append(_vector(np.concatenate([h[start : start + WINDOW] for h in per_n])))
    return out


def featurize(text: str) -> tuple[IntArray, FloatArray]:
    """The vector of a short text (its first window)."""
    return window_features(text)[0]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


def _encode(arr: npt.NDArray[Any]) -> str:
    return base64.b64encode(zlib.compress(arr.tobytes(), 9)).decode("ascii")


def _decode(blob: str, dtype: type[np.generic]) -> npt.NDArray[Any]:
    return np.frombuffer(zlib.decompress(base64.b64decode(blob)), dtype=dtype)


@dataclass(frozen=True)
class LinearModel:
    name: str
    weights: FloatArray
    bias: float
    threshold: float
    meta: dict[str, Any]

    def score_features(self, idx: IntArray, vals: FloatArray) -> float:
        return _sigmoid(self.bias + float(np.dot(self.weights[idx], vals)))

    def score(self, normalized_text: str) -> float:
        """Highest window score, so an instruction buried in a long text is not diluted."""
        return self.score_windows(window_features(normalized_text))

    def score_windows(self, feats: list[tuple[IntArray, FloatArray]]) -> float:
        z = max(float(np.dot(self.weights[i], v)) for i, v in feats)
        return _sigmoid(self.bias + z)

    def save(self, path: Path) -> None:
        nz = np.flatnonzero(self.weights).astype(np.int32)
        doc = {
            "format": "osp-linear-v1",
            "name": self.name,
            "dim_bits": DIM_BITS,
            "char_n": list(CHAR_N),
            "bias": self.bias,
            "threshold": self.threshold,
            "meta": self.meta,
            "indices": _encode(nz),
            "values": _encode(self.weights[nz].astype(np.float16)),
        }
        path.write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != "osp-linear-v1" or doc.get("dim_bits") != DIM_BITS:
            raise ValueError(f"{path.name}: unsupported weights format")
        if tuple(doc.get("char_n", ())) != CHAR_N:
            raise ValueError(f"{path.name}: trained with different n-grams")
        weights = np.zeros(1 << DIM_BITS, dtype=np.float32)
        nz = _decode(doc["indices"], np.int32)
        weights[nz] = _decode(doc["values"], np.float16).astype(np.float32)
        return cls(doc["name"], weights, float(doc["bias"]), float(doc["threshold"]), doc["meta"])


class ModelStore:
    """Loads each shipped model once, on first use, per store instance (no module globals)."""

    def __init__(self, directory: Path = WEIGHTS_DIR) -> None:
        self._dir = directory
        self._models: dict[str, LinearModel] = {}
        self._features: OrderedDict[bytes, list[tuple[IntArray, FloatArray]]] = OrderedDict()
        self._lock = threading.Lock()

    def features(self, normalized_text: str) -> list[tuple[IntArray, FloatArray]]:
        """Window features, shared by the models that score the same text in one stage.

        The cache is keyed by a digest and holds only hashed n-gram counts of the last few
        texts, never the text itself.
        """
        key = hashlib.blake2b(normalized_text.encode("utf-8", "surrogatepass"), digest_size=16)
        digest = key.digest()
        with self._lock:
            hit = self._features.get(digest)
            if hit is not None:
                self._features.move_to_end(digest)
                return hit
        feats = window_features(normalized_text)
        with self._lock:
            self._features[digest] = feats
            while len(self._features) > 8:
                self._features.popitem(last=False)
        return feats

    def get(self, name: str) -> LinearModel:
        model = self._models.get(name)
        if model is None:
            model = LinearModel.load(self._dir / f"{name}.json")
            self._models[name] = model
        return model
