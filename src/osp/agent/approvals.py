"""Paused tool calls on the agent's side: the conversation state needed to resume, kept on
``/data/approvals`` so a restart between the question and the decision loses nothing.

The control plane owns the decision (its ``approvals`` table, audited); the agent runs a
paused call only when the control plane resumes it with "approved", over the per-instance
authenticated channel, and never after the pending call's own expiry.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osp.agent.sealing import Sealer

if TYPE_CHECKING:
    from osp.agent.loop import Request
    from osp.agent.providers import ToolRequest

_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class PendingCall:
    id: str
    message_id: str
    channel: str
    user: str
    user_text: str
    skill: str | None
    call: dict[str, Any]
    expires_at: float
    system: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    boundary: str = ""  # the paused turn's spotlight boundary, named in ``system``

    @classmethod
    def new(cls, request: Request, call: ToolRequest, ttl_s: int) -> PendingCall:
        return cls(uuid.uuid4().hex, request.message_id, request.channel, request.user,
                   request.text, request.skill, call.as_dict(), time.time() + ttl_s)

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


class PendingStore:
    def __init__(self, root: Path, sealer: Sealer) -> None:
        self.sealer = sealer  # the paused turn's text and the tool's arguments: sealed
        self.dir = root / "approvals"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, approval_id: str) -> Path:
        if not _ID.fullmatch(approval_id):
            raise KeyError(approval_id)
        return self.dir / f"{approval_id}.json"

    def save(self, pending: PendingCall) -> None:
        path = self._path(pending.id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.sealer.seal(json.dumps(asdict(pending)), f"approval:{path.name}"),
                       encoding="utf-8")
        os.replace(tmp, path)

    def take(self, approval_id: str) -> PendingCall | None:
        """Removes and returns the pending call: a decision can be acted on only once."""
        path = self._path(approval_id)
        claimed = path.with_suffix(".taken")
        try:
            os.replace(path, claimed)  # atomic: two concurrent resumes cannot both win
        except FileNotFoundError:
            return None
        try:
            opened = self.sealer.open(claimed.read_text(encoding="utf-8"),
                                      f"approval:{path.name}")
            return None if opened is None else PendingCall(**json.loads(opened))
        finally:
            claimed.unlink(missing_ok=True)
