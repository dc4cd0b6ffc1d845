"""Tenant registry: create, find, list, delete. Registry work runs in the platform scope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from osp.audit.service import AuditTrail
from osp.checks.names import tenant_name_problem
from osp.db.session import Database
from osp.errors import Conflict, InvalidInput, NotFound
from osp.tenancy.models import Tenant


@dataclass(frozen=True)
class TenantInfo:
    id: uuid.UUID
    name: str
    state: str
    require_2fa: bool

    @classmethod
    def of(cls, t: Tenant) -> TenantInfo:
        return cls(t.id, t.name, t.state, t.require_2fa)


def validate_tenant_name(name: str) -> None:
    problem = tenant_name_problem(name)
    if problem is not None:
        raise InvalidInput(problem)


class TenantService:
    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self.db = db
        self.audit = audit

    def create(self, name: str, actor: str, *, require_2fa: bool = False) -> TenantInfo:
        validate_tenant_name(name)
        tenant = Tenant(id=uuid.uuid4(), name=name, state="active", require_2fa=require_2fa)
        try:
            with self.db.platform() as s:
                s.add(tenant)
                s.flush()
        except IntegrityError:
            raise Conflict(f"tenant {name!r} already exists") from None
        with self.db.tenant(tenant.id) as s:
            self.audit.record(s, tenant.id, actor, "tenant.created", {"tenant": name})
        return TenantInfo.of(tenant)

    def get(self, name: str) -> TenantInfo:
        validate_tenant_name(name)
        with self.db.platform() as s:
            t = s.execute(select(Tenant).where(Tenant.name == name)).scalar_one_or_none()
            if t is None:
                raise NotFound(f"unknown tenant {name!r}")
            return TenantInfo.of(t)

    def get_by_id(self, tenant_id: uuid.UUID) -> TenantInfo:
        """The tenant a session belongs to (the console's redirects name it)."""
        with self.db.tenant(tenant_id) as s:
            t = s.get(Tenant, tenant_id)
            if t is None:
                raise NotFound("unknown tenant")
            return TenantInfo.of(t)

    def list(self) -> list[TenantInfo]:
        with self.db.platform() as s:
            return [TenantInfo.of(t) for t in s.execute(select(Tenant).order_by(Tenant.name))
                    .scalars()]

    def set_state(self, tenant_id: uuid.UUID, state: str, actor: str, reason: str) -> TenantInfo:
        with self.db.tenant(tenant_id) as s:
            t = s.get(Tenant, tenant_id, with_for_update=True)
            if t is None:
                raise NotFound("unknown tenant")
            if t.state != state:
                t.state = state
                self.audit.record(s, tenant_id, actor, f"tenant.{state}", {"reason": reason})
            return TenantInfo.of(t)

    def set_require_2fa(self, tenant_id: uuid.UUID, required: bool, actor: str) -> TenantInfo:
        with self.db.tenant(tenant_id) as s:
            t = s.get(Tenant, tenant_id, with_for_update=True)
            if t is None:
                raise NotFound("unknown tenant")
            t.require_2fa = required
            self.audit.record(s, tenant_id, actor, "tenant.2fa_policy", {"required": required})
            return TenantInfo.of(t)

    def delete(self, info: TenantInfo, actor: str) -> None:
        with self.db.tenant(info.id) as s:
            t = s.get(Tenant, info.id)
            if t is None:
                raise NotFound(f"unknown tenant {info.name!r}")
            # Written first, in the same transaction: the trail (which outlives the tenant)
            # always says who deleted it.
            self.audit.record(s, info.id, actor, "tenant.deleted", {"tenant": info.name})
            s.delete(t)
