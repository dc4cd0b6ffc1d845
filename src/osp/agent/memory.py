"""Memory on the tenant's ``/data`` volume: conversation history per channel user and
long-term notes in Markdown. Plain files, so they survive restarts and image upgrades.

Layout::

    /data/memory/conversations/<sha256(channel:user)[:32]>.jsonl   one turn per line
    /data/memory/notes/<sha256(channel:user)[:32]>/<name>.md      long-term notes

Both are per channel user: what one person asked the agent to remember is not read back to
another person of the same tenant. (Notes written before this layout, directly under
``notes/``, belonged to nobody in particular and are not offered to anyone.)

Sealed at rest (``osp.agent.sealing``): every conversation line and every note is ciphertext
bound to its owner and file; a line is bound to its conversation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from osp.agent.sealing import Sealer

NOTE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_NOTE_CHARS = 20_000
MAX_TURN_CHARS = 8_000


class MemoryError_(ValueError):
    pass


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class Memory:
    def __init__(self, root: Path, sealer: Sealer) -> None:
        self.conversations = root / "memory" / "conversations"
        self.notes = root / "memory" / "notes"
        self.conversations.mkdir(parents=True, exist_ok=True)
        self.notes.mkdir(parents=True, exist_ok=True)
        self._sealer = sealer
        self._lock = threading.Lock()

    # -- conversation -----------------------------------------------------------------
    def _conversation(self, channel: str, user: str) -> Path:
        return self.conversations / f"{_owner_key(channel, user)}.jsonl"

    def history(self, channel: str, user: str, turns: int) -> list[dict[str, Any]]:
        path = self._conversation(channel, user)
        if turns <= 0 or not path.exists():
            return []
        aad = f"conversation:{path.name}"
        lines = path.read_text(encoding="utf-8").splitlines()[-turns * 2:]
        out = []
        for line in lines:
            opened = self._sealer.open(line, aad)
            if opened is None:
                continue  # a torn last line, a foreign or a plaintext line: never offered
            try:
                row = json.loads(opened)
            except ValueError:
                continue
            if row.get("role") in ("user", "assistant") and isinstance(row.get("content"), str):
                out.append({"role": row["role"], "content": row["content"]})
        return out

    def remember(self, channel: str, user: str, user_text: str, reply: str) -> None:
        path = self._conversation(channel, user)
        now = round(time.time(), 3)
        rows = [{"role": "user", "content": user_text[:MAX_TURN_CHARS], "at": now},
                {"role": "assistant", "content": reply[:MAX_TURN_CHARS], "at": now}]
        aad = f"conversation:{path.name}"
        with self._lock, open(path, "a", encoding="utf-8") as fh:
            fh.write("".join(self._sealer.seal(json.dumps(r), aad) + "\n" for r in rows))
            fh.flush()
            os.fsync(fh.fileno())

    # -- notes (per channel user) -----------------------------------------------------
    def _note(self, channel: str, user: str, name: str) -> Path:
        if not NOTE_NAME.fullmatch(name):
            raise MemoryError_("note names are 1-64 lowercase letters, digits, '-' or '_'")
        return self.notes / _owner_key(channel, user) / f"{name}.md"

    def write_note(self, channel: str, user: str, name: str, content: str) -> None:
        if len(content) > MAX_NOTE_CHARS:
            raise MemoryError_(f"a note holds at most {MAX_NOTE_CHARS} characters")
        path = self._note(channel, user, name)
        with self._lock:
            path.parent.mkdir(exist_ok=True)
            _atomic_write(path, self._sealer.seal(content, _note_aad(path)))

    def read_note(self, channel: str, user: str, name: str) -> str | None:
        path = self._note(channel, user, name)
        if not path.exists():
            return None
        return self._sealer.open(path.read_text(encoding="utf-8"), _note_aad(path))

    def note_names(self, channel: str, user: str) -> list[str]:
        return sorted(p.stem for p in (self.notes / _owner_key(channel, user)).glob("*.md"))

    def search_notes(self, channel: str, user: str, query: str,
                     limit: int = 5) -> list[tuple[str, str]]:
        words = {w for w in re.findall(r"\w+", query.lower()) if len(w) > 2}
        scored = []
        for name in self.note_names(channel, user):
            text = self.read_note(channel, user, name) or ""
            lower = text.lower()
            score = sum(lower.count(w) for w in words) + 3 * sum(w in name for w in words)
            if score:
                scored.append((score, name, text))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [(name, text[:1000]) for _score, name, text in scored[:limit]]


def _owner_key(channel: str, user: str) -> str:
    # Hashed: a channel user id (an e-mail, a phone number) never becomes a file name.
    return hashlib.sha256(f"{channel}:{user}".encode()).hexdigest()[:32]


def _note_aad(path: Path) -> str:
    # Owner folder and note name: a sealed note moved to another name or person fails.
    return f"note:{path.parent.name}/{path.name}"
