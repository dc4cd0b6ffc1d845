from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from osp.checks.names import TENANT_NAME_MAX, TENANT_NAME_PATTERN
from osp.db.base import Base, new_id, utcnow


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        # A tenant name becomes part of container, network and volume names, so the database
        # itself refuses anything that is not a valid name for all three (the one rule).
        CheckConstraint(f"name ~ '{TENANT_NAME_PATTERN}'", name="name_format"),
        CheckConstraint("state IN ('active', 'suspended')", name="state_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(TENANT_NAME_MAX), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="active")
    require_2fa: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
