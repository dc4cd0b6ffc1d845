"""Chain verification that does not re-hash the whole trail on every look.

Why: a status badge that re-verifies every event costs time linear in the trail (1.5 s at
5,000 events), on every page view. What it may remember without weakening what "verified"
means: once the events up to seq N were verified in Python, a fingerprint of exactly those
rows, computed by the database in one aggregate (every column, JSON-encoded so no two
different rows read alike), proves they are still byte for byte what was verified. The next
look compares that fingerprint, then verifies in Python only the events after N. A row up
to N changed, deleted or reordered changes the fingerprint, and the whole chain is verified
again from the first event (so the badge still says "broken at seq K" with the first bad
seq); an event after N is verified as always.

A prefix is remembered only when it verified cleanly and its fingerprint was the same
before and after the Python check (so what is remembered is what was checked). The memory
is per process; a broken trail is verified in full on every look.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from osp.audit.service import AuditTrail, VerifyResult

# Two prefixes of one trail (rows up to :a and up to :b) in one scan: each row as a JSON
# array of all its columns (JSON quoting keeps field boundaries unambiguous), in seq order,
# hashed by the database; plus the newest event.
FINGERPRINTS = text("""
SELECT count(*) FILTER (WHERE seq <= :a) AS n_a,
       encode(sha256(convert_to(coalesce(string_agg(
           jsonb_build_array(seq, at, actor, kind, details, prev_hash, hash)::text,
           E'\\n' ORDER BY seq) FILTER (WHERE seq <= :a), ''), 'UTF8')), 'hex') AS d_a,
       count(*) FILTER (WHERE seq <= :b) AS n_b,
       encode(sha256(convert_to(coalesce(string_agg(
           jsonb_build_array(seq, at, actor, kind, details, prev_hash, hash)::text,
           E'\\n' ORDER BY seq) FILTER (WHERE seq <= :b), ''), 'UTF8')), 'hex') AS d_b
FROM audit_events WHERE tenant_id = :t AND seq <= greatest(:a, :b)
""")
HEAD = text("SELECT seq, hash FROM audit_events WHERE tenant_id = :t ORDER BY seq DESC LIMIT 1")


@dataclass(frozen=True)
class _Verified:
    seq: int
    hash: str
    count: int
    digest: str


class VerifiedChains:
    def __init__(self, audit: AuditTrail) -> None:
        self.audit = audit
        self._known: dict[uuid.UUID, _Verified] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _prints(session: Session, trail: uuid.UUID, a: int,
                b: int) -> tuple[tuple[int, str], tuple[int, str]]:
        row = session.execute(FINGERPRINTS, {"t": trail, "a": a, "b": b}).one()
        return (int(row.n_a), str(row.d_a)), (int(row.n_b), str(row.d_b))

    def verify(self, session: Session, trail: uuid.UUID) -> VerifyResult:
        head = session.execute(HEAD, {"t": trail}).first()
        if head is None:
            return self.audit.verify(session, trail)
        top = int(head.seq)
        with self._lock:
            known = self._known.get(trail)
        if known is not None and known.seq > top:
            known = None  # events vanished from the end: verify everything again
        prefix, before = self._prints(session, trail, known.seq if known else 0, top)
        if known is not None and prefix == (known.count, known.digest):
            result = self.audit.verify(session, trail, after=(known.seq, known.hash), upto=top)
            result.checked += known.count
        else:
            result = self.audit.verify(session, trail, upto=top)
        _, after = self._prints(session, trail, 0, top)
        with self._lock:
            if result.ok and after == before:
                self._known[trail] = _Verified(top, str(head.hash), *after)
            else:
                self._known.pop(trail, None)
        return result
