"""KEK rotation: every data key is re-wrapped under a new KEK version; no secret is lost."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import IntegrityFailure
from osp.identity.service import IdentityService
from osp.tenancy.service import TenantService
from osp.vault.service import Vault


@dataclass(frozen=True)
class RotationReport:
    old_version: str
    new_version: str
    tenants: int
    secrets_rewrapped: int
    totp_rewrapped: int


def rotate_kek(db: Database, vault: Vault, tenants: TenantService, identity: IdentityService,
               audit: AuditTrail, actor: str) -> RotationReport:
    old = vault.kek.current_version()
    new = vault.kek.rotate()
    secrets = totp = 0
    all_tenants = tenants.list()
    for t in all_tenants:
        # One transaction per tenant: a crash part-way leaves every row readable, because
        # old KEK versions are only retired after every tenant has been re-wrapped.
        try:
            n_secrets, n_totp = _rewrap(db, vault, identity, audit, actor, t.id, old, new)
        except IntegrityFailure as exc:
            raise IntegrityFailure(f"tenant {t.name}: {exc.message}; rotation stopped, every "
                                   "KEK version is kept so nothing becomes unreadable") from None
        secrets, totp = secrets + n_secrets, totp + n_totp
    vault.kek.retire(new)
    return RotationReport(old, new, len(all_tenants), secrets, totp)


def _rewrap(db: Database, vault: Vault, identity: IdentityService, audit: AuditTrail,
            actor: str, tenant_id: uuid.UUID, old: str, new: str) -> tuple[int, int]:
    with db.tenant(tenant_id) as s:
        n_secrets = vault.rewrap_tenant(s, tenant_id)
        n_totp = identity.rewrap_totp(s, tenant_id)
        audit.record(s, tenant_id, actor, "kek.rotated",
                     {"from_version": old, "to_version": new, "rewrapped": n_secrets + n_totp})
    return n_secrets, n_totp
