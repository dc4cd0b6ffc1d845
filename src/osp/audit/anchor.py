"""Audit anchors: each trail's head (seq, hash) kept outside the database.

Why: the hash chain alone is unkeyed. Someone with superuser access to the database can
switch the append-only trigger off, delete the newest events (the shorter chain still
verifies), or rewrite an old event and recompute every hash after it. An anchor pins a
trail's history as of the moment it was taken: the anchored event must still exist with the
anchored hash, and because every event hashes its predecessor, that covers everything
before it too. ``osp audit verify`` checks the anchor after the chain.

Where: a JSON file (``OSP_AUDIT_ANCHOR_FILE``, default ``<data dir>/audit-anchors.json``),
0600, replaced atomically, one latest head per trail. It is only as safe as where it lives:
on the database host it stops a database-only attacker; copied to write-once storage or an
external log it stops more. ``osp up`` anchors every changed trail once a minute, and
``osp audit anchor`` does it on demand (e.g. from cron, piped to a remote log with --json).
What happens after the newest anchor is not covered: that is the window.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from osp.audit.models import AuditEvent
from osp.db.session import Database
from osp.errors import IntegrityFailure


@dataclass(frozen=True)
class Anchor:
    trail: str  # tenant id, or the platform trail's nil id
    seq: int
    hash: str
    anchored_at: str


class AnchorFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Anchor]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # An unreadable anchor file must not read as "nothing anchored" (fail closed).
            raise IntegrityFailure(f"audit anchor file {self.path} unreadable: "
                                   f"{type(exc).__name__}") from None
        return {k: Anchor(**v) for k, v in raw.get("anchors", {}).items()}

    def write(self, anchors: dict[str, Anchor]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"version": 1, "anchors": {k: asdict(v) for k, v in
                                                 sorted(anchors.items())}}, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


def head(session: Session, trail: uuid.UUID) -> tuple[int, str] | None:
    row = session.execute(select(AuditEvent.seq, AuditEvent.hash)
                          .where(AuditEvent.tenant_id == trail)
                          .order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (row.seq, row.hash) if row else None


def anchor_trails(db: Database, anchors: AnchorFile,
                  trails: Iterable[uuid.UUID]) -> list[Anchor]:
    """Anchors the current head of each trail whose head moved; returns the new anchors."""
    known = anchors.read()
    now = datetime.now(UTC).isoformat()
    changed: list[Anchor] = []
    for trail in trails:
        with db.tenant(trail) as s:
            current = head(s, trail)
        if current is None:
            continue
        previous = known.get(str(trail))
        if previous is not None and (previous.seq, previous.hash) == current:
            continue
        known[str(trail)] = Anchor(str(trail), current[0], current[1], now)
        changed.append(known[str(trail)])
    if changed:
        anchors.write(known)
    return changed


def anchor_all(db: Database, anchors: AnchorFile,
               tenant_ids: Iterable[uuid.UUID]) -> list[Anchor]:
    """Every tenant's trail and the platform trail (see ``osp.audit.unproven``)."""
    from osp.audit.unproven import PLATFORM_TRAIL

    return anchor_trails(db, anchors, [PLATFORM_TRAIL, *tenant_ids])


def check_anchor(session: Session, trail: uuid.UUID, anchor: Anchor | None) -> list[str]:
    if anchor is None:
        return []
    row = session.execute(select(AuditEvent.hash).where(
        AuditEvent.tenant_id == trail, AuditEvent.seq == anchor.seq)).first()
    if row is None:
        return [f"seq {anchor.seq} (anchored {anchor.anchored_at}) is missing: events were "
                "deleted from the end of the trail"]
    if row.hash != anchor.hash:
        return [f"seq {anchor.seq} no longer has its anchored hash (anchored "
                f"{anchor.anchored_at}): history up to it was rewritten"]
    return []
