"""Postgres-backed pieces of the runtime: tokens, desired state, platform secrets, audit sink.

Every tenant read or write runs inside ``db.tenant(id)`` (``SET LOCAL app.tenant_id``), so
RLS scopes it; platform secrets live only in the explicit platform scope.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from osp.audit.service import AuditTrail
from osp.audit.unproven import UnprovenTrail
from osp.db.base import utcnow
from osp.db.session import Database
from osp.errors import InvalidInput, NotFound, OspError
from osp.logs import get_logger
from osp.runtime.bootstrap import TokenRecord
from osp.runtime.models import BootstrapTokenRow, PlatformSecretRow, TenantRuntimeRow
from osp.tenancy.service import TenantService
from osp.vault.service import Sealed, Vault

log = get_logger("osp.runtime")

# Platform secrets are sealed with the vault's envelope scheme under this fixed owner id,
# which no tenant can have (tenant ids are random UUIDv4), so their AAD never collides.
PLATFORM_OWNER = uuid.UUID(int=0)


class SqlTokenStore:
    def __init__(self, db: Database, tenants: TenantService) -> None:
        self.db = db
        self.tenants = tenants

    def _tenant_id(self, name: str) -> uuid.UUID | None:
        try:
            return self.tenants.get(name).id
        except (NotFound, InvalidInput):  # unknown or invalid name: no token can match
            return None

    def add(self, record: TokenRecord) -> None:
        tenant_id = self._tenant_id(record.tenant)
        if tenant_id is None:
            raise NotFound(f"unknown tenant {record.tenant!r}")
        with self.db.tenant(tenant_id) as s:
            s.add(BootstrapTokenRow(token_hash=record.token_hash, tenant_id=tenant_id,
                                    instance_id=record.instance_id,
                                    expires_at=record.expires_at))

    def consume(self, token_hash: str, tenant: str, now: datetime) -> TokenRecord | None:
        tenant_id = self._tenant_id(tenant)
        if tenant_id is None:
            return None
        with self.db.tenant(tenant_id) as s:
            row = s.execute(select(BootstrapTokenRow)
                            .where(BootstrapTokenRow.token_hash == token_hash)
                            .with_for_update()).scalar_one_or_none()
            if row is None:
                return None
            before = TokenRecord(row.token_hash, tenant, row.instance_id, row.expires_at,
                                 row.used_at)
            if row.used_at is None:
                row.used_at = now
            return before

    def revoke_instance(self, tenant: str, instance_id: str, now: datetime) -> None:
        tenant_id = self._tenant_id(tenant)
        if tenant_id is None:
            return
        with self.db.tenant(tenant_id) as s:
            s.execute(update(BootstrapTokenRow)
                      .where(BootstrapTokenRow.instance_id == instance_id,
                             BootstrapTokenRow.used_at.is_(None))
                      .values(used_at=now))


class SqlAudit:
    """AuditSink writing into the named tenant's hash-chained trail.

    ``tenant=None`` means the request proved no tenant (whatever it claimed): the event goes
    to the rate-limited platform trail (``osp.audit.unproven``), as do events naming a
    tenant that does not exist."""

    def __init__(self, db: Database, tenants: TenantService, audit: AuditTrail,
                 unproven: UnprovenTrail, actor: str = "runtime") -> None:
        self.db = db
        self.tenants = tenants
        self.audit = audit
        self.unproven = unproven
        self.actor = actor

    def __call__(self, tenant: str | None, kind: str, details: Mapping[str, object]) -> None:
        if tenant is None:
            self.unproven.record(kind, details)
            return
        try:
            info = self.tenants.get(tenant)
        except OspError:
            self.unproven.record(kind, {**details, "claimed_tenant": tenant[:64]})
            return
        with self.db.tenant(info.id) as s:
            self.audit.record(s, info.id, self.actor, kind, dict(details))


def tenant_secrets(db: Database, tenants: TenantService, vault: Vault,
                   tenant: str) -> dict[str, str]:
    info = tenants.get(tenant)
    with db.tenant(info.id) as s:
        raw = vault.get_all(s, info.id)
    # Values stay bytes until here; a non-UTF-8 value is refused rather than mangled.
    return {name: value.decode("utf-8") for name, value in raw.items()}


@dataclass
class DesiredState:
    desired: str
    instance_id: str | None
    image_id: str | None
    memory_mb: int
    cpus: float
    pids: int
    host_ports: tuple[int, ...]


class RuntimeStateRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, tenant_id: uuid.UUID) -> DesiredState:
        with self.db.tenant(tenant_id) as s:
            row = s.get(TenantRuntimeRow, tenant_id)
            if row is None:
                return DesiredState("stopped", None, None, 256, 0.5, 64, ())
            return DesiredState(row.desired, row.instance_id, row.image_id, row.memory_mb,
                                float(row.cpus), row.pids, tuple(row.host_ports or ()))

    def set(self, tenant_id: uuid.UUID, **values: object) -> None:
        with self.db.tenant(tenant_id) as s:
            row = s.get(TenantRuntimeRow, tenant_id, with_for_update=True)
            if row is None:
                row = TenantRuntimeRow(tenant_id=tenant_id)
                s.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()


class PlatformSecrets:
    """Platform-wide keys (billing webhook key, runtime key), sealed by the vault's KEK."""

    def __init__(self, db: Database, vault: Vault) -> None:
        self.db = db
        self.vault = vault

    def get(self, name: str) -> bytes | None:
        with self.db.platform() as s:
            row = s.get(PlatformSecretRow, name)
            if row is None:
                return None
            return self.vault.unseal(PLATFORM_OWNER, f"platform:{name}", row.version,
                                     Sealed(row.kek_version, row.wrapped_dek, row.nonce,
                                            row.ciphertext))

    def put(self, name: str, value: bytes) -> None:
        with self.db.platform() as s:
            row = s.get(PlatformSecretRow, name, with_for_update=True)
            version = (row.version + 1) if row else 1
            sealed = self.vault.seal(PLATFORM_OWNER, f"platform:{name}", version, value)
            if row is None:
                row = PlatformSecretRow(name=name)
                s.add(row)
            row.version = version
            row.kek_version = sealed.kek_version
            row.wrapped_dek = sealed.wrapped_dek
            row.nonce = sealed.nonce
            row.ciphertext = sealed.ciphertext

    def rewrap_all(self) -> int:
        """Re-wraps every platform key under the current KEK (for KEK rotation)."""
        count = 0
        with self.db.platform() as s:
            for row in s.execute(select(PlatformSecretRow).with_for_update()).scalars():
                if row.kek_version == self.vault.kek.current_version():
                    continue
                sealed = self.vault.rewrap(PLATFORM_OWNER, f"platform:{row.name}", row.version,
                                           Sealed(row.kek_version, row.wrapped_dek, row.nonce,
                                                  row.ciphertext))
                row.kek_version, row.wrapped_dek = sealed.kek_version, sealed.wrapped_dek
                count += 1
        return count

    def get_or_create(self, name: str, size: int = 32) -> bytes:
        value = self.get(name)
        if value is None:
            self.put(name, os.urandom(size))
            value = self.get(name)
        if value is None:
            raise RuntimeError(f"platform secret {name} could not be stored")
        return value
