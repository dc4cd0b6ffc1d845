from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CHAR, BigInteger, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from osp.db.base import Base


class AuditEvent(Base):
    """One link of a tenant's hash chain. Append-only: no UPDATE/DELETE grant, and a trigger."""

    __tablename__ = "audit_events"

    # No foreign key to tenants on purpose: the trail outlives a deleted tenant.
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    prev_hash: Mapped[str] = mapped_column(CHAR(64))
    hash: Mapped[str] = mapped_column(CHAR(64))
