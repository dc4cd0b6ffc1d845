"""The semantic tier: a small transformer encoder (MiniLM-L6, int8 ONNX) plus linear heads.

The encoder turns text into 384-d sentence vectors; each head (injection, harmful, document
instruction) is a logistic regression on them. Long texts are cut into overlapping windows of
``WINDOW_TOKENS`` word pieces and the highest window wins, so an instruction after thousands of
benign words is scored on its own window instead of being truncated away or diluted.

Context: an artefact trained for it (manifest ``reads_instructions``) scores a message together
with the tenant's instructions, given as a second segment (``[CLS] window [SEP] context [SEP]``,
token type 1, at most ``CONTEXT_TOKENS`` word pieces). Some injections are attacks only relative
to those instructions ("answer only in French from now on" to an assistant told to answer in
English); the context is attended to but not pooled, so the vector still describes the message.
The shipped artefact is built without (measured: see docs/benchmarks.md), so it ignores them.

Integrity: ``manifest.json`` records the sha256 of every artefact file; a missing or altered file
raises ``EncoderError`` with the reason, and the rail that needed it fails closed. Nothing here
loads at import time, and nothing is ever fetched: onnxruntime and tokenizers read local files.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ENCODER_DIR = Path(__file__).with_name("weights") / "encoder"
WINDOW_TOKENS = 96  # word pieces per window, [CLS] and [SEP] included
STRIDE_TOKENS = 64
MAX_WINDOWS = 64  # 4k word pieces; longer texts are scored on their first and last windows
CONTEXT_TOKENS = 48  # word pieces of the tenant's instructions given as the second segment
BATCH = 16
# Graph inputs for a second segment (format osp-encoder-v2); an artefact without them (v1), or
# one whose manifest does not say ``reads_instructions``, scores the message alone.
PAIR_INPUTS = frozenset({"token_type_ids", "pool_mask"})
FloatArray = npt.NDArray[np.float32]


class EncoderError(RuntimeError):
    """The encoder artefact is missing, altered or unusable; the reason is in the message."""


@dataclass(frozen=True, slots=True)
class Head:
    name: str
    weights: FloatArray
    bias: float
    threshold: float

    def score(self, embeddings: FloatArray) -> float:
        """Probability of the highest-scoring window."""
        z = float(np.max(embeddings @ self.weights)) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


@dataclass(frozen=True, slots=True)
class CategoryHead:
    """Harm category of a harmful request: multinomial logistic regression on the mean vector."""

    classes: tuple[str, ...]
    weights: FloatArray  # (classes, 384)
    bias: FloatArray  # (classes,)

    def category(self, embeddings: FloatArray) -> str:
        z = embeddings.mean(axis=0) @ self.weights.T + self.bias
        return self.classes[int(np.argmax(z))]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verified(directory: Path, manifest: dict[str, Any], name: str) -> Path:
    path = directory / name
    want = manifest.get("files", {}).get(name)
    if not isinstance(want, str):
        raise EncoderError(f"encoder manifest has no sha256 for {name}")
    if not path.is_file():
        raise EncoderError(f"encoder file missing: {path}")
    got = _sha256(path)
    if got != want:
        # A changed model is a changed security control: refuse it rather than run it.
        raise EncoderError(f"encoder file {name} does not match its recorded sha256")
    return path


def split_windows(
    ids: list[int], cls: int, sep: int, context: list[int] | None = None
) -> list[list[int]]:
    """Overlapping windows of word-piece ids, each [CLS] ... [SEP] (training uses the same cut),
    followed by ``context[:CONTEXT_TOKENS]`` and [SEP] when a context is given."""
    inner = WINDOW_TOKENS - 2
    tail = [*context[:CONTEXT_TOKENS], sep] if context else []
    if len(ids) <= inner:
        return [[cls, *ids, sep, *tail]]
    starts = list(range(0, len(ids) - inner + STRIDE_TOKENS, STRIDE_TOKENS))
    if len(starts) > MAX_WINDOWS:
        # Keep both ends: instructions are planted at the start or the end most often.
        half = MAX_WINDOWS // 2
        starts = starts[:half] + starts[-half:]
    return [[cls, *ids[s : s + inner], sep, *tail] for s in starts]


def segment_a(window: list[int], context: list[int] | None) -> int:
    """Length of the message segment ([CLS] ... [SEP]) of a window built by split_windows."""
    return len(window) - (min(len(context), CONTEXT_TOKENS) + 1 if context else 0)


class Encoder:
    """Tokenizer + ONNX session + heads, verified against the manifest when built."""

    def __init__(
        self, directory: Path = ENCODER_DIR, threads: int = 1, with_heads: bool = True
    ) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EncoderError(f"semantic tier needs onnxruntime and tokenizers: {exc}") from None
        manifest_path = directory / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise EncoderError(f"cannot read encoder manifest {manifest_path}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise EncoderError(f"encoder manifest {manifest_path} is not JSON: {exc}") from None
        self.manifest = manifest
        model = _verified(directory, manifest, "encoder.onnx")
        tok = _verified(directory, manifest, "tokenizer.json")
        heads = _verified(directory, manifest, "heads.json") if with_heads else None
        try:
            self._tok = Tokenizer.from_file(str(tok))
            self._tok.no_truncation()
            self._tok.no_padding()
            opts = ort.SessionOptions()
            # One thread per session by default: scoring shares the host's cores with tenants.
            for option, value in (("intra_op_num_threads", threads), ("inter_op_num_threads", 1)):
                setattr(opts, option, value)
            self._session = ort.InferenceSession(
                str(model), opts, providers=["CPUExecutionProvider"]
            )
            self.heads = _load_heads(heads) if heads is not None else {}
            # Optional: an artefact whose manifest lists no category head reports none (the
            # word-stem taxonomy names the category); one it lists must be present and intact.
            self.categories: CategoryHead | None = None
            if with_heads and "categories.json" in manifest.get("files", {}):
                self.categories = _load_categories(
                    _verified(directory, manifest, "categories.json")
                )
        except EncoderError:
            raise
        except Exception as exc:  # onnxruntime/tokenizers raise their own types on bad files
            raise EncoderError(f"encoder artefact unusable: {type(exc).__name__}: {exc}") from None
        cls, sep = self._tok.token_to_id("[CLS]"), self._tok.token_to_id("[SEP]")
        if cls is None or sep is None:
            raise EncoderError("encoder tokenizer lacks [CLS]/[SEP]")
        self._cls: int = cls
        self._sep: int = sep
        # Instructions are read only by an artefact trained to read them (its manifest says so);
        # scoring one that was not with a second segment would move its scores unmeasured.
        self._pair_graph = PAIR_INPUTS.issubset(i.name for i in self._session.get_inputs())
        self.takes_context = manifest.get("reads_instructions") is True
        if self.takes_context and not self._pair_graph:
            raise EncoderError("encoder manifest says it reads instructions; its graph cannot")

    def _ids(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def embed(self, text: str, keep: int | None = None, context: str | None = None) -> FloatArray:
        """One L2-normalised vector per window, shape (windows, 384). With ``keep``, only the
        first keep-1 windows and the last one are run (training uses this to bound cost). With
        ``context`` (and an artefact that takes one), each window carries it as segment two."""
        ctx = self._ids(context) if context and self.takes_context else None
        wins = split_windows(self._ids(text), self._cls, self._sep, ctx)
        if keep is not None and len(wins) > keep:
            wins = [*wins[: keep - 1], wins[-1]]
        out = []
        for b in range(0, len(wins), BATCH):
            batch = wins[b : b + BATCH]
            width = max(len(w) for w in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            types = np.zeros((len(batch), width), dtype=np.int64)
            pool = np.zeros((len(batch), width), dtype=np.int64)
            for i, w in enumerate(batch):
                a = segment_a(w, ctx)
                ids[i, : len(w)] = w
                mask[i, : len(w)] = 1
                types[i, a : len(w)] = 1
                pool[i, :a] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if self._pair_graph:  # without instructions: all type 0, pooled over everything
                feed |= {"token_type_ids": types, "pool_mask": pool}
            (emb,) = self._session.run(["embedding"], feed)
            out.append(np.asarray(emb, dtype=np.float32))
        return np.concatenate(out)

    def scores(
        self, text: str, heads: tuple[str, ...], context: str | None = None
    ) -> dict[str, float]:
        emb = self.embed(text, context=context)
        return {h: self.heads[h].score(emb) for h in heads}

    def assess(
        self, text: str, heads: tuple[str, ...], context: str | None = None
    ) -> tuple[dict[str, float], str | None]:
        """Head scores and the learned harm category (None without a category head), from one
        pass of the encoder."""
        emb = self.embed(text, context=context)
        scores = {h: self.heads[h].score(emb) for h in heads}
        return scores, (self.categories.category(emb) if self.categories else None)


def _load_heads(path: Path) -> dict[str, Head]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != "osp-heads-v1":
        raise EncoderError(f"{path.name}: unsupported heads format")
    heads = {}
    for name, h in doc["heads"].items():
        w = np.asarray(h["weights"], dtype=np.float32)
        if w.shape != (384,):
            raise EncoderError(f"{path.name}: head {name!r} has shape {w.shape}, not (384,)")
        heads[name] = Head(name, w, float(h["bias"]), float(h["threshold"]))
    return heads


def _load_categories(path: Path) -> CategoryHead:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != "osp-categories-v1":
        raise EncoderError(f"{path.name}: unsupported category head format")
    classes = tuple(str(c) for c in doc["classes"])
    w = np.asarray(doc["weights"], dtype=np.float32)
    b = np.asarray(doc["bias"], dtype=np.float32)
    if w.shape != (len(classes), 384) or b.shape != (len(classes),):
        raise EncoderError(f"{path.name}: weights {w.shape} do not fit {len(classes)} classes")
    return CategoryHead(classes, w, b)


class EncoderStore:
    """Loads the encoder once, on first use, per store; a failed load is remembered and
    re-raised on every later call, so a broken artefact keeps failing closed."""

    def __init__(self, directory: Path = ENCODER_DIR) -> None:
        self._dir = directory
        self._encoder: Encoder | None = None
        self._error: EncoderError | None = None
        self._lock = threading.Lock()

    def get(self) -> Encoder:
        with self._lock:
            if self._encoder is None:
                if self._error is not None:
                    raise self._error
                try:
                    self._encoder = Encoder(self._dir)
                except EncoderError as exc:
                    self._error = exc
                    raise
            return self._encoder
