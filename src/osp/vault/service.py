"""The vault: envelope encryption of tenant secrets (fresh AES-256-GCM data key per version)."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from osp.audit.service import AuditTrail
from osp.errors import IntegrityFailure, InvalidInput, NotFound
from osp.vault.interfaces import KekProvider
from osp.vault.models import SECRET_NAME_PATTERN, SecretVersion

MAX_VALUE_BYTES = 64 * 1024
_NAME = re.compile(SECRET_NAME_PATTERN)


@dataclass(frozen=True)
class SecretInfo:
    name: str
    version: int
    versions: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Sealed:
    kek_version: str
    wrapped_dek: bytes
    nonce: bytes
    ciphertext: bytes


def validate_name(name: str) -> None:
    if not _NAME.fullmatch(name or ""):
        raise InvalidInput("secret name must be 1-128 characters of letters, digits, _ . - "
                           "and start with a letter or _")


def validate_value(value: bytes) -> None:
    if not value:
        raise InvalidInput("secret value is empty")
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidInput(f"secret value is larger than {MAX_VALUE_BYTES} bytes")


def _aad(kind: str, tenant_id: uuid.UUID, name: str, version: int) -> bytes:
    # Binding tenant, name and version means a ciphertext copied to another tenant, renamed
    # or replayed as another version fails authentication instead of decrypting.
    return f"osp:{kind}|{tenant_id}|{name}|{version}".encode()


class Vault:
    def __init__(self, kek: KekProvider, audit: AuditTrail) -> None:
        self.kek = kek
        self.audit = audit

    # -- sealing primitives (also used for TOTP seeds) -----------------------------------
    def seal(self, tenant_id: uuid.UUID, name: str, version: int, value: bytes) -> Sealed:
        dek = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        ciphertext = AESGCM(dek).encrypt(nonce, value, _aad("secret", tenant_id, name, version))
        kek_version, wrapped = self.kek.wrap(dek, _aad("dek", tenant_id, name, version))
        return Sealed(kek_version, wrapped, nonce, ciphertext)

    def rewrap(self, tenant_id: uuid.UUID, name: str, version: int, sealed: Sealed) -> Sealed:
        """The same sealed value with its data key wrapped under the current KEK version."""
        aad = _aad("dek", tenant_id, name, version)
        kek_version, wrapped = self.kek.wrap(self.kek.unwrap(sealed.kek_version,
                                                             sealed.wrapped_dek, aad), aad)
        return Sealed(kek_version, wrapped, sealed.nonce, sealed.ciphertext)

    def unseal(self, tenant_id: uuid.UUID, name: str, version: int, sealed: Sealed) -> bytes:
        dek = self.kek.unwrap(sealed.kek_version, sealed.wrapped_dek,
                              _aad("dek", tenant_id, name, version))
        try:
            return AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext,
                                       _aad("secret", tenant_id, name, version))
        except (InvalidTag, ValueError):
            raise IntegrityFailure(f"secret {name!r} v{version} failed its integrity check") \
                from None

    # -- secrets ---------------------------------------------------------------------------
    def put(self, session: Session, tenant_id: uuid.UUID, name: str, value: bytes,
            actor: str) -> int:
        validate_name(name)
        validate_value(value)
        current = session.execute(
            select(func.max(SecretVersion.version))
            .where(SecretVersion.tenant_id == tenant_id, SecretVersion.name == name)
        ).scalar()
        version = (current or 0) + 1
        sealed = self.seal(tenant_id, name, version, value)
        session.add(SecretVersion(
            tenant_id=tenant_id, name=name, version=version, kek_provider=self.kek.name,
            kek_version=sealed.kek_version, wrapped_dek=sealed.wrapped_dek, nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
        ))
        session.flush()
        self.audit.record(session, tenant_id, actor,
                          "secret.rotated" if current else "secret.written",
                          {"name": name, "version_number": version})
        return version

    def get(self, session: Session, tenant_id: uuid.UUID, name: str) -> bytes:
        row = session.execute(
            select(SecretVersion)
            .where(SecretVersion.tenant_id == tenant_id, SecretVersion.name == name)
            .order_by(SecretVersion.version.desc()).limit(1)
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no secret named {name!r}")
        return self._open(row)

    def get_all(self, session: Session, tenant_id: uuid.UUID) -> dict[str, bytes]:
        return {info.name: self.get(session, tenant_id, info.name)
                for info in self.list(session, tenant_id)}

    def _open(self, row: SecretVersion) -> bytes:
        return self.unseal(row.tenant_id, row.name, row.version,
                           Sealed(row.kek_version, row.wrapped_dek, row.nonce, row.ciphertext))

    def list(self, session: Session, tenant_id: uuid.UUID) -> list[SecretInfo]:
        rows = session.execute(
            select(SecretVersion.name, func.max(SecretVersion.version), func.count(),
                   func.min(SecretVersion.created_at), func.max(SecretVersion.created_at))
            .where(SecretVersion.tenant_id == tenant_id)
            .group_by(SecretVersion.name).order_by(SecretVersion.name)
        ).all()
        return [SecretInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def delete(self, session: Session, tenant_id: uuid.UUID, name: str, actor: str) -> int:
        validate_name(name)
        removed = session.execute(  # type: ignore[attr-defined]
            delete(SecretVersion)
            .where(SecretVersion.tenant_id == tenant_id, SecretVersion.name == name)
        ).rowcount
        if not removed:
            raise NotFound(f"no secret named {name!r}")
        self.audit.record(session, tenant_id, actor, "secret.deleted",
                          {"name": name, "versions_removed": removed})
        return int(removed)

    def rewrap_tenant(self, session: Session, tenant_id: uuid.UUID) -> int:
        """Re-wraps every data key of one tenant under the current KEK version."""
        count = 0
        target = self.kek.current_version()
        rows = session.execute(
            select(SecretVersion).where(SecretVersion.tenant_id == tenant_id)
            .with_for_update()
        ).scalars()
        for row in rows:
            if row.kek_version == target and row.kek_provider == self.kek.name:
                continue
            aad = _aad("dek", row.tenant_id, row.name, row.version)
            dek = self.kek.unwrap(row.kek_version, row.wrapped_dek, aad)
            row.kek_version, row.wrapped_dek = self.kek.wrap(dek, aad)
            row.kek_provider = self.kek.name
            count += 1
        return count
