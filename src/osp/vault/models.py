from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from osp.db.base import Base, new_id, utcnow

SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"  # noqa: S105 (a pattern)


class SecretVersion(Base):
    """One version of a secret. Only ciphertext and a wrapped data key are stored here."""

    __tablename__ = "secret_versions"
    __table_args__ = (
        CheckConstraint(f"name ~ '{SECRET_NAME_PATTERN}'", name="name_format"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("octet_length(nonce) = 12", name="nonce_len"),
        UniqueConstraint("tenant_id", "name", "version",
                         name="uq_secret_versions_tenant_name_version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    kek_provider: Mapped[str] = mapped_column(String(16))
    kek_version: Mapped[str] = mapped_column(String(64))
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
