"""KEK rotation: every data key is re-wrapped under a new KEK version; no secret is lost."""

from __future__ import annotations

from dataclasses import dataclass

from osp.audit.service import AuditTrail
from osp.db.session import Database
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
        with db.tenant(t.id) as s:
            n_secrets = vault.rewrap_tenant(s, t.id)
            n_totp = identity.rewrap_totp(s, t.id)
            audit.record(s, t.id, actor, "kek.rotated",
                         {"from_version": old, "to_version": new,
                          "rewrapped": n_secrets + n_totp})
        secrets, totp = secrets + n_secrets, totp + n_totp
    vault.kek.retire(new)
    return RotationReport(old, new, len(all_tenants), secrets, totp)
