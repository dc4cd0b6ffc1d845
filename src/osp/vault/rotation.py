"""KEK rotation: every data key is re-wrapped under a new KEK version; no secret is lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import IntegrityFailure
from osp.tenancy.service import TenantService
from osp.vault.service import Vault

# Anything else sealed under the KEK (TOTP seeds, OAuth tokens …) registers one of these:
# it re-seals one tenant's values inside the given transaction and returns how many.
Rewrapper = Callable[[Session, uuid.UUID], int]


@dataclass(frozen=True)
class RotationReport:
    old_version: str
    new_version: str
    tenants: int
    rewrapped: int


def rotate_kek(db: Database, vault: Vault, tenants: TenantService, audit: AuditTrail,
               actor: str, rewrappers: Sequence[Rewrapper] = (),
               platform_rewrappers: Sequence[Callable[[], int]] = ()) -> RotationReport:
    old = vault.kek.current_version()
    new = vault.kek.rotate()
    total = 0
    all_tenants = tenants.list()
    for t in all_tenants:
        # One transaction per tenant: a crash part-way leaves every row readable, because
        # old KEK versions are only retired after every tenant has been re-wrapped.
        try:
            with db.tenant(t.id) as s:
                n = vault.rewrap_tenant(s, t.id) + sum(r(s, t.id) for r in rewrappers)
                audit.record(s, t.id, actor, "kek.rotated",
                             {"from_version": old, "to_version": new, "rewrapped": n})
        except IntegrityFailure as exc:
            raise IntegrityFailure(f"tenant {t.name}: {exc.message}; rotation stopped, every "
                                   "KEK version is kept so nothing becomes unreadable") from None
        total += n
    # Platform-wide keys (the runtime key, the billing key) too: retiring the old KEK before
    # them would make every tenant start fail.
    total += sum(rewrap() for rewrap in platform_rewrappers)
    vault.kek.retire(new)
    return RotationReport(old, new, len(all_tenants), total)
