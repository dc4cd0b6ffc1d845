"""Append-only, hash-chained audit trail, one chain per tenant."""

from __future__ import annotations

import builtins
import hashlib
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from osp.audit.models import AuditEvent
from osp.logs import scrub
from osp.telemetry import AUDIT_APPEND

GENESIS = "0" * 64


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(tenant_id: uuid.UUID, seq: int, at: datetime, actor: str, kind: str,
               details: dict[str, Any], prev_hash: str) -> str:
    body = {
        "tenant_id": str(tenant_id), "seq": seq, "at": at.astimezone(UTC).isoformat(),
        "actor": actor, "kind": kind, "details": details, "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(body)).hexdigest()


@dataclass
class VerifyResult:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    broken_at: int | None = None  # the first seq whose check failed (for a status badge)

    def fail(self, seq: int, problem: str) -> None:
        self.problems.append(problem)
        if self.broken_at is None:
            self.broken_at = seq

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditTrail:
    def record(self, session: Session, tenant_id: uuid.UUID, actor: str, kind: str,
               details: dict[str, Any] | None = None) -> AuditEvent:
        """Append one event inside the caller's transaction (it commits or rolls back with it)."""
        began = time.perf_counter()
        clean: dict[str, Any] = json.loads(canonical(scrub(details or {})))
        # One writer per tenant chain at a time; released at commit/rollback.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 7))"),
                        {"k": f"audit:{tenant_id}"})
        last = session.execute(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.tenant_id == tenant_id)
            .order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
        at = datetime.now(UTC)
        event = AuditEvent(
            tenant_id=tenant_id, seq=seq, at=at, actor=actor[:200], kind=kind, details=clean,
            prev_hash=prev, hash=event_hash(tenant_id, seq, at, actor[:200], kind, clean, prev),
        )
        session.add(event)
        session.flush()
        AUDIT_APPEND.observe(time.perf_counter() - began)
        return event

    def list(self, session: Session, tenant_id: uuid.UUID, limit: int = 50) -> list[AuditEvent]:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
            .order_by(AuditEvent.seq.desc()).limit(limit)
        ).scalars()
        return list(reversed(list(rows)))

    def find(self, session: Session, tenant_id: uuid.UUID, *, kind: str | None = None,
             actor: str | None = None, before_seq: int | None = None,
             since: datetime | None = None, details: dict[str, Any] | None = None,
             limit: int = 50) -> builtins.list[AuditEvent]:
        """Newest first, filtered: exact kind (or a ``prefix.`` ending in a dot), actor
        substring, events before a seq (paging), at or after a time, details containing
        the given keys and values."""
        q = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
        if kind:
            q = q.where(AuditEvent.kind.startswith(kind, autoescape=True) if kind.endswith(".")
                        else AuditEvent.kind == kind)
        if actor:
            q = q.where(AuditEvent.actor.contains(actor, autoescape=True))
        if before_seq is not None:
            q = q.where(AuditEvent.seq < before_seq)
        if since is not None:
            q = q.where(AuditEvent.at >= since)
        if details:
            q = q.where(AuditEvent.details.contains(details))
        q = q.order_by(AuditEvent.seq.desc()).limit(max(1, min(limit, 1000)))
        return list(session.execute(q).scalars())

    def verify(self, session: Session, tenant_id: uuid.UUID) -> VerifyResult:
        """Every event of the trail, from the first to the newest."""
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq)
        ).scalars()
        return self.verify_events(tenant_id, rows)

    @staticmethod
    def verify_events(tenant_id: uuid.UUID, events: Iterable[AuditEvent], *,
                      after: tuple[int, str] | None = None) -> VerifyResult:
        """Events in seq order, from the first (or from just after ``after``: a (seq, hash)
        already verified, see :mod:`osp.audit.verified`)."""
        result = VerifyResult()
        expected_seq, prev = (after[0] + 1, after[1]) if after else (1, GENESIS)
        for ev in events:
            result.checked += 1
            if ev.seq != expected_seq:
                result.fail(expected_seq, f"seq {expected_seq}..{ev.seq - 1} missing (deleted?)")
            if ev.prev_hash != prev:
                result.fail(ev.seq, f"seq {ev.seq}: chain broken (previous event changed, "
                                    "deleted or reordered)")
            recomputed = event_hash(tenant_id, ev.seq, ev.at, ev.actor, ev.kind, ev.details,
                                    ev.prev_hash)
            if recomputed != ev.hash:
                result.fail(ev.seq, f"seq {ev.seq}: content does not match its hash (modified)")
            expected_seq, prev = ev.seq + 1, ev.hash
        return result
