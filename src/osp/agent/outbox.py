"""Answers already given, by message id, on ``/data/outbox``.

The control plane re-sends a message whose answer it did not receive (a dropped connection, a
restart of the control plane). If the agent had finished it, the stored answer is returned
instead of running the turn again, so tools with effects do not run twice for one message.
A turn cut off before it finished (the container killed mid-message) runs again.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from osp.agent.sealing import Sealer

_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
KEEP_S = 24 * 3600
MAX_FILES = 2000


class Outbox:
    def __init__(self, root: Path, sealer: Sealer) -> None:
        self.sealer = sealer  # an answer holds the reply: sealed like the conversation
        self.dir = root / "outbox"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path | None:
        return self.dir / f"{key.replace(':', '_')}.json" if _KEY.fullmatch(key) else None

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if path is None or not path.exists():
            return None
        opened = self.sealer.open(path.read_text(encoding="utf-8"), f"outbox:{path.name}")
        try:
            data: dict[str, Any] = json.loads(opened or "")
        except ValueError:
            return None  # unreadable, foreign or plaintext: the turn runs again
        return data

    def put(self, key: str, outcome: dict[str, Any]) -> None:
        path = self._path(key)
        if path is None:
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.sealer.seal(json.dumps(outcome), f"outbox:{path.name}"),
                       encoding="utf-8")
        os.replace(tmp, path)
        self._prune()

    def _prune(self) -> None:
        files = sorted(self.dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
        cutoff = time.time() - KEEP_S
        for i, p in enumerate(files):
            if p.stat().st_mtime < cutoff or i < len(files) - MAX_FILES:
                p.unlink(missing_ok=True)
