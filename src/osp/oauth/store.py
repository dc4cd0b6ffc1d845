"""Sealed OAuth secrets: tokens, client secrets and PKCE verifiers, envelope-encrypted by the vault.

Each value is sealed under a fresh data key with AAD ``oauth:KIND:OWNER`` + tenant + version,
so a blob copied to another row, tenant or kind fails its integrity check instead of opening.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from osp.errors import NotFound
from osp.oauth.models import SECRET_KINDS, OAuthSecret
from osp.vault.service import Sealed, Vault


def _name(kind: str, owner_id: uuid.UUID) -> str:
    if kind not in SECRET_KINDS:
        raise ValueError(f"unknown oauth secret kind {kind!r}")
    return f"oauth:{kind}:{owner_id}"


class SealedStore:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def put(self, s: Session, tenant_id: uuid.UUID, owner_id: uuid.UUID, kind: str,
            value: str) -> None:
        row = s.execute(select(OAuthSecret).where(OAuthSecret.owner_id == owner_id,
                                                  OAuthSecret.kind == kind)
                        .with_for_update()).scalar_one_or_none()
        version = row.version + 1 if row else 1
        sealed = self.vault.seal(tenant_id, _name(kind, owner_id), version, value.encode())
        if row is None:
            row = OAuthSecret(tenant_id=tenant_id, owner_id=owner_id, kind=kind)
            s.add(row)
        row.version, row.kek_version = version, sealed.kek_version
        row.wrapped_dek, row.nonce, row.ciphertext = (sealed.wrapped_dek, sealed.nonce,
                                                      sealed.ciphertext)
        row.updated_at = datetime.now(UTC)
        s.flush()

    def get(self, s: Session, owner_id: uuid.UUID, kind: str) -> str:
        value = self.find(s, owner_id, kind)
        if value is None:
            raise NotFound(f"no stored {kind.replace('_', ' ')}")
        return value

    def find(self, s: Session, owner_id: uuid.UUID, kind: str) -> str | None:
        row = s.execute(select(OAuthSecret).where(OAuthSecret.owner_id == owner_id,
                                                  OAuthSecret.kind == kind)).scalar_one_or_none()
        if row is None:
            return None
        sealed = Sealed(row.kek_version, row.wrapped_dek, row.nonce, row.ciphertext)
        return self.vault.unseal(row.tenant_id, _name(kind, owner_id), row.version,
                                 sealed).decode()

    def delete(self, s: Session, owner_id: uuid.UUID, *kinds: str) -> int:
        stmt = delete(OAuthSecret).where(OAuthSecret.owner_id == owner_id)
        if kinds:
            stmt = stmt.where(OAuthSecret.kind.in_(kinds))
        result: CursorResult[Any] = s.execute(stmt)  # type: ignore[assignment]
        return int(result.rowcount)

    def rewrap_tenant(self, s: Session, tenant_id: uuid.UUID) -> int:
        """Re-seals every value of one tenant under the current KEK version (KEK rotation)."""
        count = 0
        target = self.vault.kek.current_version()
        rows = s.execute(select(OAuthSecret).where(OAuthSecret.tenant_id == tenant_id)
                         .with_for_update()).scalars()
        for row in rows:
            if row.kek_version == target:
                continue
            name = _name(row.kind, row.owner_id)
            value = self.vault.unseal(tenant_id, name, row.version, Sealed(
                row.kek_version, row.wrapped_dek, row.nonce, row.ciphertext))
            sealed = self.vault.seal(tenant_id, name, row.version, value)
            row.kek_version, row.wrapped_dek = sealed.kek_version, sealed.wrapped_dek
            row.nonce, row.ciphertext = sealed.nonce, sealed.ciphertext
            count += 1
        return count
