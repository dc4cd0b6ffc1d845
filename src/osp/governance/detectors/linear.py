"""Hashed n-gram features and a linear (logistic) scorer whose weights ship as JSON.

Features: character 2..5-grams of the normalised text plus word unigrams and bigrams, hashed
into 2**20 buckets, log-scaled counts, L2-normalised. Long texts are scored in overlapping
windows and the highest window wins, so an instruction buried in a long document is not diluted.

Weights are stored as zlib+base64 arrays inside JSON rather than pickles: loading a pickle runs
code, and a weights file must never be able to do that.
"""

from __future__ import annotations

import base64
import json
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DIM_BITS = 20
CHAR_N = (2, 3, 4, 5)
WINDOW = 1500
STRIDE = 1000
WEIGHTS_DIR = Path(__file__).with_name("weights")
_WORD_RE = re.compile(r"\w+")
_U64 = np.uint64
_FNV_PRIME = _U64(0x100000001B3)
_MIX = _U64(0xFF51AFD7ED558CCD)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    h = h ^ (h >> _U64(33))
    h = h * _MIX
    return h ^ (h >> _U64(29))


def _char_hashes(text: str) -> list[npt.NDArray[np.uint64]]:
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
        out.append(h)
    return out


def _word_hashes(text: str) -> npt.NDArray[np.uint64]:
    words = _WORD_RE.findall(text)
    hashes = [zlib.crc32(w.encode("utf-8", "surrogatepass")) for w in words]
    bigrams = [(a * 0x1F3D5B79 + b) & 0xFFFFFFFF for a, b in zip(hashes, hashes[1:], strict=False)]
    arr = np.array(hashes + [b | (1 << 32) for b in bigrams], dtype=np.uint64)
    return arr + _U64(1 << 40)


def featurize(text: str) -> tuple[IntArray, FloatArray]:
    """Sparse feature vector of one (already normalised) text: bucket indices and values."""
    parts = [*_char_hashes(text), _word_hashes(text)]
    allh = _mix(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)
    idx = (allh & _U64((1 << DIM_BITS) - 1)).astype(np.int64)
    buckets, counts = np.unique(idx, return_counts=True)
    vals = np.log1p(counts).astype(np.float32)
    norm = float(np.sqrt(np.dot(vals, vals)))
    if norm > 0:
        vals /= norm
    return buckets, vals


def windows(text: str) -> list[str]:
    if len(text) <= WINDOW:
        return [text]
    starts = range(0, len(text) - WINDOW + STRIDE, STRIDE)
    return [text[s : s + WINDOW] for s in starts]


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
        z = self.bias + float(np.dot(self.weights[idx], vals))
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def score(self, normalized_text: str) -> float:
        return max(self.score_features(*featurize(w)) for w in windows(normalized_text))

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

    def get(self, name: str) -> LinearModel:
        model = self._models.get(name)
        if model is None:
            model = LinearModel.load(self._dir / f"{name}.json")
            self._models[name] = model
        return model
