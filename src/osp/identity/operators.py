"""Platform operators: the people who run the installation, apart from every tenant.

An operator is not a user of any tenant and a tenant user is never an operator: separate
table (visible only in the platform scope), separate session table, separate credential
prefix (``ospo_``) and separate cookies. Created only from the control-plane host's CLI
(``osp operator create``), with a password and a TOTP seed at once: there is no operator
without a second factor, and sign-in always needs password and code together. Sign-ins,
failures and everything operators do are recorded in the platform trail (the nil tenant
id, which no tenant can read).
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import Conflict, NotFound, Throttled, Unauthorized
from osp.identity import throttle
from osp.identity.models import Operator, OperatorSession
from osp.identity.secrets import make_bearer, parse_bearer, random_secret, same, sha256_hex
from osp.identity.service import ISSUER, TOTP_STEP, normalise_email, validate_password
from osp.vault.service import Sealed, Vault

PLATFORM = uuid.UUID(int=0)  # the platform trail's id (osp.audit.unproven.PLATFORM_TRAIL)
PREFIX = "ospo"
SESSION_TTL = timedelta(hours=8)
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked when no such operator exists: both paths cost one argon2 hash."""
    return _hasher.hash("osp-dummy-operator-password")


@dataclass(frozen=True)
class OperatorPrincipal:
    operator_id: uuid.UUID
    email: str
    csrf_hash: str

    @property
    def actor(self) -> str:
        return f"operator:{self.email}"


@dataclass(frozen=True)
class OperatorLogin:
    token: str
    csrf: str


def _seal_name(operator_id: uuid.UUID) -> str:
    return f"operator-totp:{operator_id}"


class OperatorService:
    def __init__(self, db: Database, vault: Vault, audit: AuditTrail) -> None:
        self.db, self.vault, self.audit = db, vault, audit

    def record(self, actor: str, kind: str, details: dict[str, Any]) -> None:
        """An event in the platform trail."""
        with self.db.tenant(PLATFORM) as s:
            self.audit.record(s, PLATFORM, actor, kind, details)

    # -- accounts (CLI) ------------------------------------------------------------------
    def create(self, email: str, password: str, actor: str) -> tuple[str, str]:
        """Returns (otpauth URI, base32 seed) to show once: the second factor is part of
        the account from the start."""
        email = normalise_email(email)
        validate_password(password)
        seed = pyotp.random_base32()
        op_id = uuid.uuid4()
        sealed = self.vault.seal(PLATFORM, _seal_name(op_id), 1, seed.encode())
        row = Operator(id=op_id, email=email, password_hash=_hasher.hash(password),
                       totp_wrapped_dek=sealed.wrapped_dek, totp_ciphertext=sealed.ciphertext,
                       totp_nonce=sealed.nonce, totp_kek_version=sealed.kek_version)
        try:
            with self.db.platform() as s:
                s.add(row)
                s.flush()
        except IntegrityError:
            raise Conflict(f"operator {email} already exists") from None
        self.record(actor, "operator.created", {"operator_id": str(op_id), "email": email})
        return pyotp.TOTP(seed).provisioning_uri(name=email, issuer_name=f"{ISSUER} operator"), \
            seed

    def list(self) -> list[Operator]:
        with self.db.platform() as s:
            return list(s.execute(select(Operator).order_by(Operator.email)).scalars())

    def delete(self, email: str, actor: str) -> None:
        key = normalise_email(email)
        with self.db.platform() as s:
            row = s.execute(select(Operator).where(Operator.email == key)).scalar_one_or_none()
            if row is None:
                raise NotFound(f"no operator {key}")
            s.delete(row)  # its sessions go with it
        self.record(actor, "operator.deleted", {"email": key})

    # -- sign-in -------------------------------------------------------------------------
    def login(self, email: str, password: str, code: str, address: str) -> OperatorLogin:
        """Password and TOTP code together; one answer for every failure."""
        key = (email or "").strip().lower()
        account_key = throttle.account_key("operator", key)
        address_key = throttle.address_key(address)
        with self.db.platform() as s:
            account = throttle.reserve(s, account_key, throttle.MAX_PER_ACCOUNT)
            by_address = throttle.reserve(s, address_key, throttle.MAX_PER_ADDRESS)
            row = s.execute(select(Operator).where(Operator.email == key)).scalar_one_or_none()
        actor = f"address:{address}"
        if not (account.allowed and by_address.allowed):
            self.record(actor, "operator.login_throttled", {"email": key[:254]})
            raise Throttled(throttle.THROTTLED)
        ok = _verify(row.password_hash if row else _dummy_hash(), password)
        if row is not None and ok:
            with self.db.platform() as s:
                locked = s.get(Operator, row.id, with_for_update=True)
                ok = locked is not None and self._check_totp(locked, code)
        if row is None or not ok:
            with self.db.platform() as s:
                throttle.lock_if_spent(s, account)
                throttle.lock_if_spent(s, by_address)
            self.record(actor, "operator.login_failed", {"email": key[:254],
                                                         "known": row is not None})
            raise Unauthorized("invalid credentials")
        token, token_hash = make_bearer(PREFIX, PLATFORM)
        csrf = random_secret(24)
        with self.db.platform() as s:
            throttle.clear(s, account_key)
            throttle.refund(s, address_key)
            s.add(OperatorSession(operator_id=row.id, token_hash=token_hash,
                                  csrf_hash=sha256_hex(csrf),
                                  expires_at=datetime.now(UTC) + SESSION_TTL))
        self.record(f"operator:{row.email}", "operator.login_ok", {"address": address})
        return OperatorLogin(token, csrf)

    def _check_totp(self, row: Operator, code: str) -> bool:
        code = (code or "").strip()
        if not (code.isdigit() and len(code) == 6):
            return False
        seed = self.vault.unseal(PLATFORM, _seal_name(row.id), 1, Sealed(
            row.totp_kek_version, row.totp_wrapped_dek, row.totp_nonce, row.totp_ciphertext))
        totp = pyotp.TOTP(seed.decode())
        now_step = int(time.time()) // TOTP_STEP
        for step in (now_step - 1, now_step, now_step + 1):
            # A step at or below the last accepted one is a replay.
            if step > row.totp_last_step and same(totp.at(step * TOTP_STEP), code):
                row.totp_last_step = step
                return True
        return False

    def authenticate(self, token: str) -> OperatorPrincipal:
        _, token_hash = parse_bearer(PREFIX, token)
        with self.db.platform() as s:
            sess = s.execute(select(OperatorSession).where(
                OperatorSession.token_hash == token_hash)).scalar_one_or_none()
            if sess is None or sess.revoked_at or sess.expires_at <= datetime.now(UTC):
                raise Unauthorized("session expired or invalid")
            row = s.get(Operator, sess.operator_id)
            if row is None:
                raise Unauthorized("session expired or invalid")
            return OperatorPrincipal(row.id, row.email, sess.csrf_hash)

    def logout(self, principal: OperatorPrincipal, token: str) -> None:
        _, token_hash = parse_bearer(PREFIX, token)
        with self.db.platform() as s:
            s.execute(update(OperatorSession).where(OperatorSession.token_hash == token_hash)
                      .values(revoked_at=datetime.now(UTC)))
        self.record(principal.actor, "operator.logout", {})

    def rewrap_all(self) -> int:
        """Every operator's TOTP data key under the current KEK (KEK rotation)."""
        count = 0
        with self.db.platform() as s:
            for row in s.execute(select(Operator).with_for_update()).scalars():
                if row.totp_kek_version == self.vault.kek.current_version():
                    continue
                sealed = self.vault.rewrap(PLATFORM, _seal_name(row.id), 1, Sealed(
                    row.totp_kek_version, row.totp_wrapped_dek, row.totp_nonce,
                    row.totp_ciphertext))
                row.totp_kek_version, row.totp_wrapped_dek = sealed.kek_version, \
                    sealed.wrapped_dek
                count += 1
        return count


def csrf_ok(principal: OperatorPrincipal, sent: str) -> bool:
    return bool(sent) and same(sha256_hex(sent), principal.csrf_hash)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
