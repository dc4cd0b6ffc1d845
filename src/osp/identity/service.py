"""Users, passwords (argon2id), TOTP 2FA with recovery codes, browser sessions, API tokens."""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from osp.identity import throttle
from osp.identity.models import ROLES, ApiToken, BrowserSession, RecoveryCode, User
from osp.identity.scopes import ALL_SCOPES, ROLE_SCOPES
from osp.identity.secrets import make_bearer, parse_bearer, random_secret, same, sha256_hex
from osp.tenancy.service import TenantInfo, TenantService
from osp.vault.service import Sealed, Vault

SESSION_TTL = timedelta(hours=12)
MFA_TTL = timedelta(minutes=5)
LAST_USED_GRANULARITY = timedelta(minutes=1)
TOTP_STEP = 30
ISSUER = "OSP"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so both paths cost one argon2 hash."""
    return _hasher.hash("osp-dummy-password-for-timing")


@dataclass(frozen=True)
class Principal:
    tenant_id: uuid.UUID
    user_id: uuid.UUID | None
    role: str
    kind: str  # "session" | "token"
    stage: str = "full"
    scopes: frozenset[str] = field(default_factory=frozenset)
    csrf_hash: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.user_id}"

    @property
    def chat_user(self) -> str:
        """Who this principal is in the chat (a token acts as its creator)."""
        return str(self.user_id) if self.user_id else "token"

    @property
    def sees_all_users(self) -> bool:
        """Owners and admins see every person's messages and approvals in their tenant;
        a member sees only their own (what the agent did for others is not theirs)."""
        return self.role in ("owner", "admin")

    def require(self, scope: str) -> None:
        if self.stage != "full":
            raise Forbidden("finish two-factor authentication first")
        if scope not in self.scopes:
            raise Forbidden(f"missing scope {scope}")


@dataclass(frozen=True)
class LoginResult:
    token: str
    csrf: str
    stage: str
    tenant_id: uuid.UUID


def check_assignable(creator: Principal, role: str) -> None:
    """Who may give whom which role (the API and the console both ask here)."""
    if role == "owner" and creator.role != "owner":
        raise Forbidden("only an owner can create another owner")


def normalise_email(email: str) -> str:
    try:
        return validate_email(email or "", check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(f"invalid email address: {exc}") from None


def validate_password(password: str) -> None:
    if len(password) < 12:
        raise InvalidInput("password must have at least 12 characters")
    if len(password) > 1024:
        raise InvalidInput("password is longer than 1024 characters")


def check_new_user(email: str, password: str, role: str) -> str:
    """A new user's role, email and password, checked; returns the normalised email."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    email = normalise_email(email)
    validate_password(password)
    return email


class IdentityService:
    def __init__(self, db: Database, tenants: TenantService, vault: Vault,
                 audit: AuditTrail) -> None:
        self.db, self.tenants, self.vault, self.audit = db, tenants, vault, audit

    # -- users ---------------------------------------------------------------------------
    def create_user(self, tenant: TenantInfo, email: str, password: str, role: str,
                    actor: str) -> uuid.UUID:
        email = check_new_user(email, password, role)
        user = User(id=uuid.uuid4(), tenant_id=tenant.id, email=email,
                    password_hash=_hasher.hash(password), role=role)
        try:
            with self.db.tenant(tenant.id) as s:
                s.add(user)
                s.flush()
                self.audit.record(s, tenant.id, actor, "user.created",
                                  {"user_id": str(user.id), "email": email, "role": role})
        except IntegrityError:
            raise Conflict(f"user {email} already exists in tenant {tenant.name!r}") from None
        return user.id

    def list_users(self, tenant_id: uuid.UUID) -> list[User]:
        with self.db.tenant(tenant_id) as s:
            return list(s.execute(select(User).order_by(User.email)).scalars())

    # -- login ---------------------------------------------------------------------------
    def login(self, tenant_name: str, email: str, password: str, address: str) -> LoginResult:
        address_key = throttle.address_key(address)
        try:
            tenant = self.tenants.get(tenant_name)
        except (NotFound, InvalidInput):
            # Guessing tenant names costs the address its attempts too.
            with self.db.unscoped() as s:
                spent = throttle.reserve(s, address_key, throttle.MAX_PER_ADDRESS)
                throttle.lock_if_spent(s, spent)
            if not spent.allowed:
                raise throttle.LoginThrottled(throttle.THROTTLED) from None
            _verify_password(_dummy_hash(), password)  # same cost as a real check
            raise Unauthorized("invalid credentials") from None
        email_key = (email or "").strip().lower()
        account_key = throttle.account_key(tenant.id, email_key)
        actor = f"address:{address}"
        # The attempt is counted and committed BEFORE the hash is verified: concurrent
        # guesses each get their own number, and only the first ones within the limit are
        # verified at all (see osp.identity.throttle).
        with self.db.tenant(tenant.id) as s:
            account = throttle.reserve(s, account_key, throttle.MAX_PER_ACCOUNT)
            by_address = throttle.reserve(s, address_key, throttle.MAX_PER_ADDRESS)
            refused = not (account.allowed and by_address.allowed)
            if refused:
                self.audit.record(s, tenant.id, actor, "login.throttled",
                                  {"email": email_key, "attempt": account.count,
                                   "address_attempt": by_address.count})
            user = s.execute(select(User).where(User.email == email_key)).scalar_one_or_none()
        if refused:
            raise throttle.LoginThrottled(throttle.THROTTLED)
        ok = _verify_password(user.password_hash if user else _dummy_hash(), password)
        if user is None or not ok:
            with self.db.tenant(tenant.id) as s:
                throttle.lock_if_spent(s, account)
                throttle.lock_if_spent(s, by_address)
                self.audit.record(s, tenant.id, actor, "login.failed",
                                  {"email": email_key, "known_user": user is not None})
            raise Unauthorized("invalid credentials")
        with self.db.tenant(tenant.id) as s:
            throttle.clear(s, account_key)
            throttle.refund(s, address_key)
            if _hasher.check_needs_rehash(user.password_hash):
                s.execute(update(User).where(User.id == user.id)
                          .values(password_hash=_hasher.hash(password)))
            stage = "mfa" if user.totp_enabled else ("enrol" if tenant.require_2fa else "full")
            result = self._new_session(s, tenant.id, user.id, stage)
            self.audit.record(s, tenant.id, f"user:{user.id}", "login.ok", {"stage": stage})
        return result

    def _new_session(self, s: Session, tenant_id: uuid.UUID, user_id: uuid.UUID,
                     stage: str) -> LoginResult:
        token, token_hash = make_bearer("osps", tenant_id)
        csrf = random_secret(24)
        ttl = MFA_TTL if stage == "mfa" else SESSION_TTL
        s.add(BrowserSession(tenant_id=tenant_id, user_id=user_id, token_hash=token_hash,
                             csrf_hash=sha256_hex(csrf), stage=stage,
                             expires_at=datetime.now(UTC) + ttl))
        s.flush()
        return LoginResult(token, csrf, stage, tenant_id)

    def complete_mfa(self, token: str, code: str | None, recovery_code: str | None) -> LoginResult:
        tenant_id, token_hash = parse_bearer("osps", token)
        with self.db.tenant(tenant_id) as s:
            sess = self._live_session(s, token_hash)
            if sess.stage != "mfa":
                raise InvalidInput("this session is not waiting for a second factor")
            user = s.get(User, sess.user_id, with_for_update=True)
            if user is None:
                raise Unauthorized("session expired or invalid")
            # The second factor has its own counter per user: logging in again with the
            # password must not buy a fresh set of guesses at a 6-digit code.
            mfa_key = throttle.mfa_key(user.id)
            throttle.check(s, [mfa_key])
            if recovery_code:
                ok = self._use_recovery_code(s, user, recovery_code)
                how = "recovery_code"
            else:
                ok = self._check_totp(s, user, code or "")
                how = "totp"
            if not ok:
                self.audit.record(s, tenant_id, f"user:{user.id}", "2fa.failed", {"method": how})
                throttle.record_failure(s, mfa_key, throttle.MAX_MFA_FAILURES)
        if not ok:
            raise Unauthorized("invalid or already used code")
        with self.db.tenant(tenant_id) as s:
            throttle.clear(s, mfa_key)
            # The pending session is retired and a fresh one issued (no session fixation).
            s.execute(update(BrowserSession).where(BrowserSession.token_hash == token_hash)
                      .values(revoked_at=datetime.now(UTC)))
            result = self._new_session(s, tenant_id, user.id, "full")
            self.audit.record(s, tenant_id, f"user:{user.id}", "2fa.verified", {"method": how})
        return result

    def logout(self, principal: Principal, token: str) -> None:
        _, token_hash = parse_bearer("osps", token)
        with self.db.tenant(principal.tenant_id) as s:
            s.execute(update(BrowserSession).where(BrowserSession.token_hash == token_hash)
                      .values(revoked_at=datetime.now(UTC)))
            self.audit.record(s, principal.tenant_id, principal.actor, "logout", {})

    def _live_session(self, s: Session, token_hash: str) -> BrowserSession:
        sess = s.execute(select(BrowserSession).where(BrowserSession.token_hash == token_hash)
                         ).scalar_one_or_none()
        if sess is None or sess.revoked_at or sess.expires_at <= datetime.now(UTC):
            raise Unauthorized("session expired or invalid")
        return sess

    # -- authentication of requests ------------------------------------------------------
    def authenticate_session(self, token: str) -> Principal:
        tenant_id, token_hash = parse_bearer("osps", token)
        with self.db.tenant(tenant_id) as s:
            sess = self._live_session(s, token_hash)
            user = s.get(User, sess.user_id)
            if user is None:
                raise Unauthorized("session expired or invalid")
            return Principal(tenant_id, user.id, user.role, "session", sess.stage,
                             ROLE_SCOPES[user.role], sess.csrf_hash)

    def authenticate_token(self, token: str) -> Principal:
        tenant_id, token_hash = parse_bearer("ospt", token)
        now = datetime.now(UTC)
        with self.db.tenant(tenant_id) as s:
            row = s.execute(select(ApiToken).where(ApiToken.token_hash == token_hash)
                            ).scalar_one_or_none()
            if row is None or row.revoked_at or (row.expires_at and row.expires_at <= now):
                raise Unauthorized("token expired, revoked or invalid")
            user = s.get(User, row.user_id) if row.user_id else None
            role = user.role if user else "admin"
            # At most one write a minute: a commit with no write costs no fsync per request.
            if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
                row.last_used_at = now
            return Principal(tenant_id, row.user_id, role, "token", "full",
                             frozenset(row.scopes) & ROLE_SCOPES[role])

    # -- API tokens ----------------------------------------------------------------------
    def create_token(self, principal: Principal, name: str, scopes: list[str],
                     expires_days: int | None, *, actor: str | None = None
                     ) -> tuple[uuid.UUID, str]:
        if not name or len(name) > 100:
            raise InvalidInput("token name must be 1-100 characters")
        unknown = set(scopes) - set(ALL_SCOPES)
        if unknown or not scopes:
            raise InvalidInput(f"scopes must be a non-empty subset of {', '.join(ALL_SCOPES)}")
        if not set(scopes) <= principal.scopes:
            raise Forbidden("a token cannot carry scopes its creator does not have")
        if expires_days is not None and not 1 <= expires_days <= 3650:
            raise InvalidInput("expires_days must be between 1 and 3650")
        token, token_hash = make_bearer("ospt", principal.tenant_id)
        expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
        row = ApiToken(tenant_id=principal.tenant_id, user_id=principal.user_id, name=name,
                       token_hash=token_hash, scopes=sorted(set(scopes)), expires_at=expires)
        with self.db.tenant(principal.tenant_id) as s:
            s.add(row)
            s.flush()
            self.audit.record(s, principal.tenant_id, actor or principal.actor, "token.created",
                              {"token_id": str(row.id), "name": name, "scopes": row.scopes})
        return row.id, token

    def list_tokens(self, tenant_id: uuid.UUID) -> list[ApiToken]:
        with self.db.tenant(tenant_id) as s:
            return list(s.execute(select(ApiToken).order_by(ApiToken.created_at)).scalars())

    def revoke_token(self, principal: Principal, token_id: uuid.UUID, *,
                     actor: str | None = None) -> None:
        with self.db.tenant(principal.tenant_id) as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFound("no such token")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                self.audit.record(s, principal.tenant_id, actor or principal.actor,
                                  "token.revoked",
                                  {"token_id": str(token_id)})

    # -- TOTP ----------------------------------------------------------------------------
    def enrol_totp(self, principal: Principal) -> tuple[str, str]:
        """Returns (otpauth URI, base32 seed). The seed is sealed by the vault at rest."""
        if principal.user_id is None or principal.kind != "session":
            raise Forbidden("two-factor enrolment needs a signed-in person")
        seed = pyotp.random_base32()
        with self.db.tenant(principal.tenant_id) as s:
            user = s.get(User, principal.user_id, with_for_update=True)
            if user is None:
                raise Unauthorized("session expired or invalid")
            if user.totp_enabled:
                raise Conflict("two-factor authentication is already enabled")
            sealed = self.vault.seal(principal.tenant_id, f"totp:{user.id}", 1, seed.encode())
            user.totp_kek_version, user.totp_wrapped_dek = sealed.kek_version, sealed.wrapped_dek
            user.totp_nonce, user.totp_ciphertext = sealed.nonce, sealed.ciphertext
            self.audit.record(s, principal.tenant_id, principal.actor, "2fa.enrol_started", {})
            uri = pyotp.TOTP(seed).provisioning_uri(name=user.email, issuer_name=ISSUER)
        return uri, seed

    def confirm_totp(self, principal: Principal, code: str) -> list[str]:
        """Turns 2FA on after a first valid code; returns one-time recovery codes (shown once)."""
        if principal.user_id is None or principal.kind != "session":
            raise Forbidden("two-factor enrolment needs a signed-in person")
        with self.db.tenant(principal.tenant_id) as s:
            user = s.get(User, principal.user_id, with_for_update=True)
            if user is None:
                raise Unauthorized("session expired or invalid")
            if user.totp_ciphertext is None or user.totp_enabled:
                raise InvalidInput("start enrolment first")
            if not self._check_totp(s, user, code):
                self.audit.record(s, principal.tenant_id, principal.actor, "2fa.failed",
                                  {"method": "enrol"})
                ok = False
            else:
                ok = True
                user.totp_enabled = True
                codes = [random_secret(10) for _ in range(10)]
                for c in codes:
                    s.add(RecoveryCode(tenant_id=principal.tenant_id, user_id=user.id,
                                       code_hash=sha256_hex(c)))
                s.execute(update(BrowserSession)
                          .where(BrowserSession.user_id == user.id,
                                 BrowserSession.stage == "enrol")
                          .values(stage="full"))
                self.audit.record(s, principal.tenant_id, principal.actor, "2fa.enrolled", {})
        if not ok:
            raise Unauthorized("invalid or already used code")
        return codes

    def _seed(self, user: User) -> str:
        if not (user.totp_ciphertext and user.totp_nonce and user.totp_wrapped_dek):
            raise InvalidInput("two-factor authentication is not set up")
        sealed = Sealed(user.totp_kek_version or "", user.totp_wrapped_dek, user.totp_nonce,
                        user.totp_ciphertext)
        return self.vault.unseal(user.tenant_id, f"totp:{user.id}", 1, sealed).decode()

    def _check_totp(self, s: Session, user: User, code: str) -> bool:
        code = (code or "").strip()
        if not (code.isdigit() and len(code) == 6) or user.totp_ciphertext is None:
            return False
        totp = pyotp.TOTP(self._seed(user))
        now_step = int(time.time()) // TOTP_STEP
        for step in (now_step - 1, now_step, now_step + 1):
            # A step at or below the last accepted one is a replay, even if the code matches.
            if step > user.totp_last_step and same(totp.at(step * TOTP_STEP), code):
                user.totp_last_step = step
                s.flush()
                return True
        return False

    def _use_recovery_code(self, s: Session, user: User, code: str) -> bool:
        digest = sha256_hex(code.strip())
        row = s.execute(select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == digest,
            RecoveryCode.used_at.is_(None)).with_for_update()).scalar_one_or_none()
        if row is None:
            return False
        row.used_at = datetime.now(UTC)
        return True

    def rewrap_totp(self, s: Session, tenant_id: uuid.UUID) -> int:
        count = 0
        for user in s.execute(select(User).where(User.totp_ciphertext.is_not(None))
                              .with_for_update()).scalars():
            seed = self._seed(user).encode()
            sealed = self.vault.seal(tenant_id, f"totp:{user.id}", 1, seed)
            user.totp_kek_version, user.totp_wrapped_dek = sealed.kek_version, sealed.wrapped_dek
            user.totp_nonce, user.totp_ciphertext = sealed.nonce, sealed.ciphertext
            count += 1
        return count


def _verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
