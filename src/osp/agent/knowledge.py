"""Knowledge: documents on ``/data/knowledge``, chunked and searched locally with BM25 (bm25s).

The index is rebuilt in memory when the folder changes (cheap for the documents one tenant
keeps); nothing leaves the container. Retrieved chunks are *untrusted*: the agent loop
passes every one through the retrieval rails before it reaches a prompt.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SUFFIXES = (".md", ".txt")
MAX_DOC_BYTES = 2 * 1024 * 1024
CHUNK_WORDS = 120
OVERLAP_WORDS = 20


class KnowledgeError(ValueError):
    pass


@dataclass(frozen=True)
class Chunk:
    document: str
    index: int
    text: str


def chunk(document: str, text: str) -> list[Chunk]:
    """Paragraph-aware chunks of about CHUNK_WORDS words, with a small overlap."""
    words = text.split()
    if not words:
        return []
    out = []
    step = CHUNK_WORDS - OVERLAP_WORDS
    for i, start in enumerate(range(0, max(len(words) - OVERLAP_WORDS, 1), step)):
        out.append(Chunk(document, i, " ".join(words[start:start + CHUNK_WORDS])))
    return out


_STOPWORDS = ("a an and are as at be but by do does for from has have how i in is it its of on "
              "or our so that the their there this to was we were what when where which who "
              "why will with you your")
STOPWORDS = frozenset(_STOPWORDS.split(" "))


def _stem(word: str) -> str:
    # Deliberately crude (plural and -ing/-ed endings): enough to match "refund" to "refunds"
    # without a stemmer dependency in the agent image.
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> list[str]:
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS]


class Knowledge:
    def __init__(self, root: Path) -> None:
        self.root = root / "knowledge"
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._chunks: list[Chunk] = []
        self._index: Any = None

    def add(self, name: str, content: str) -> int:
        if not DOC_NAME.fullmatch(name) or not name.endswith(SUFFIXES):
            raise KnowledgeError("document names end in .md or .txt and use letters, digits, "
                                 "'.', '-' or '_'")
        if len(content.encode()) > MAX_DOC_BYTES:
            raise KnowledgeError("documents are limited to 2 MiB")
        path = self.root / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
        return len(chunk(name, content))

    def _current(self) -> tuple[tuple[str, int, int], ...]:
        return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                            for p in self.root.iterdir() if p.suffix in SUFFIXES))

    def _ensure_index(self) -> None:
        signature = self._current()
        if signature == self._signature:
            return
        # Imported on first search: an agent without documents never pays for it.
        bm25s = importlib.import_module("bm25s")

        chunks = [c for name, _m, _s in signature
                  for c in chunk(name, (self.root / name).read_text(encoding="utf-8"))]
        index = None
        if chunks:
            index = bm25s.BM25()
            index.index([_tokens(c.text) for c in chunks], show_progress=False)
        self._chunks, self._index, self._signature = chunks, index, signature

    def search(self, query: str, k: int = 3) -> list[Chunk]:
        query_tokens = _tokens(query)
        if k <= 0 or not query_tokens:
            return []
        with self._lock:
            self._ensure_index()
            if self._index is None:
                return []
            k = min(k, len(self._chunks))
            results, scores = self._index.retrieve([query_tokens], k=k, show_progress=False)
        return [self._chunks[int(i)] for i, s in zip(results[0], scores[0], strict=True)
                if float(s) > 0]
