"""Operator actions on a tenant's people: role changes, password and 2FA resets, removal.

The operator (the CLI on the control-plane host) already holds the keys to everything, so
these take no principal; each one is audited with the acting name it is given. A reset
always ends the person's signed-in sessions: whoever held the old password or the old
second factor must not stay signed in with it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from argon2 import PasswordHasher
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import Conflict, InvalidInput, NotFound
from osp.identity.models import ROLES, BrowserSession, RecoveryCode, User
from osp.identity.service import normalise_email, validate_password
from osp.tenancy.service import TenantInfo, TenantService

_hasher = PasswordHasher()  # argon2id, the same parameters as sign-in uses


class UserAdmin:
    def __init__(self, db: Database, tenants: TenantService, audit: AuditTrail) -> None:
        self.db, self.tenants, self.audit = db, tenants, audit

    def _user(self, s: Session, tenant_name: str, email: str) -> User:
        key = normalise_email(email)
        user = s.execute(select(User).where(User.email == key).with_for_update()
                         ).scalar_one_or_none()
        if user is None:
            raise NotFound(f"no user {key} in tenant {tenant_name!r}")
        return user

    @staticmethod
    def _refuse_last_owner(s: Session, user: User, tenant_name: str) -> None:
        # A tenant whose last owner is gone has no one who may change its settings or name
        # new owners through the API; the operator must name another owner first.
        owners = s.execute(select(func.count()).select_from(User)
                           .where(User.role == "owner")).scalar_one()
        if user.role == "owner" and owners <= 1:
            raise Conflict(f"{user.email} is the last owner of {tenant_name!r}: make another "
                           "user owner first")

    @staticmethod
    def _end_sessions(s: Session, user_id: uuid.UUID) -> None:
        s.execute(update(BrowserSession).where(BrowserSession.user_id == user_id,
                                               BrowserSession.revoked_at.is_(None))
                  .values(revoked_at=datetime.now(UTC)))

    def set_role(self, tenant: TenantInfo, email: str, role: str, actor: str) -> str:
        """Returns the previous role."""
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        with self.db.tenant(tenant.id) as s:
            user = self._user(s, tenant.name, email)
            before = user.role
            if before != role:
                self._refuse_last_owner(s, user, tenant.name)
                user.role = role
                # Tokens are capped by their owner's role at every use, so a demotion
                # narrows them at once; nothing else to revoke.
                self.audit.record(s, tenant.id, actor, "user.role_changed",
                                  {"user_id": str(user.id), "from": before, "to": role})
        return before

    def reset_password(self, tenant: TenantInfo, email: str, password: str, actor: str) -> None:
        validate_password(password)
        with self.db.tenant(tenant.id) as s:
            user = self._user(s, tenant.name, email)
            user.password_hash = _hasher.hash(password)
            self._end_sessions(s, user.id)
            self.audit.record(s, tenant.id, actor, "user.password_reset",
                              {"user_id": str(user.id)})

    def reset_2fa(self, tenant: TenantInfo, email: str, actor: str) -> bool:
        """Removes the second factor and its recovery codes; returns whether one was set.
        The person enrols again at the next sign-in when the tenant requires 2FA."""
        with self.db.tenant(tenant.id) as s:
            user = self._user(s, tenant.name, email)
            had = user.totp_enabled or user.totp_ciphertext is not None
            user.totp_enabled = False
            user.totp_wrapped_dek = user.totp_ciphertext = user.totp_nonce = None
            user.totp_kek_version = None
            # totp_last_step is kept: it only ever rises, so no old code can be replayed.
            s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            self._end_sessions(s, user.id)
            self.audit.record(s, tenant.id, actor, "user.2fa_reset",
                              {"user_id": str(user.id), "was_enabled": had})
        return had

    def delete(self, tenant: TenantInfo, email: str, actor: str) -> None:
        """Removes the user with their sessions, recovery codes and API tokens."""
        with self.db.tenant(tenant.id) as s:
            user = self._user(s, tenant.name, email)
            self._refuse_last_owner(s, user, tenant.name)
            s.delete(user)
            s.flush()
            self.audit.record(s, tenant.id, actor, "user.deleted",
                              {"user_id": str(user.id), "email": user.email})
