"""The platform trail: refusals of requests that proved no tenant, kept apart and rate-limited.

Why not the named tenant's trail: an unauthenticated request (an unknown bootstrap token, a
webhook with a bad signature) only *claims* a tenant. Writing its refusal into that tenant's
trail would let anyone bloat a victim's trail and contend for its chain lock. Such refusals
go into a chain of their own instead, under the nil tenant id, which no tenant has, so under
RLS no tenant can read or write it. The claimed tenant is a detail of the event.

Why rate-limited: the callers are unauthenticated, so a flood must not grow the database
without bound. Each kind of event gets a token bucket (``per_minute``, refilled
continuously); what the bucket drops is logged, counted, and the count is written into the
next event of that kind that gets through (``suppressed_before``), so the trail still says
that something was dropped and how much.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping

from osp.audit.models import AuditEvent
from osp.audit.service import AuditTrail, VerifyResult
from osp.db.session import Database
from osp.logs import get_logger

log = get_logger("osp.audit")

PLATFORM_TRAIL = uuid.UUID(int=0)  # never a tenant id: tenants get random (version 4) ids
UNPROVEN_ACTOR = "unauthenticated"


class UnprovenTrail:
    def __init__(self, db: Database, audit: AuditTrail, per_minute: int = 60,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db, self.audit = db, audit
        self.per_minute, self.clock = per_minute, clock
        self._buckets: dict[str, tuple[float, float, int]] = {}  # kind -> tokens, at, dropped
        self._lock = threading.Lock()

    def _admit(self, kind: str) -> tuple[bool, int]:
        """(write it?, events of this kind dropped since the last one written)."""
        now = self.clock()
        with self._lock:
            tokens, at, dropped = self._buckets.get(kind, (float(self.per_minute), now, 0))
            tokens = min(float(self.per_minute), tokens + (now - at) * self.per_minute / 60)
            if tokens < 1:
                self._buckets[kind] = (tokens, now, dropped + 1)
                return False, dropped + 1
            self._buckets[kind] = (tokens - 1, now, 0)
            return True, dropped

    def record(self, kind: str, details: Mapping[str, object]) -> None:
        admitted, dropped = self._admit(kind)
        if not admitted:
            log.warning(kind, suppressed=dropped, **dict(details))
            return
        extra = {"suppressed_before": dropped} if dropped else {}
        with self.db.tenant(PLATFORM_TRAIL) as s:
            self.audit.record(s, PLATFORM_TRAIL, UNPROVEN_ACTOR, kind, {**details, **extra})

    def list(self, limit: int = 50) -> list[AuditEvent]:
        with self.db.tenant(PLATFORM_TRAIL) as s:
            return self.audit.list(s, PLATFORM_TRAIL, limit)

    def verify(self) -> VerifyResult:
        with self.db.tenant(PLATFORM_TRAIL) as s:
            return self.audit.verify(s, PLATFORM_TRAIL)
