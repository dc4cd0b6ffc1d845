"""Passwords, TOTP with replay refusal, recovery codes, throttling, API tokens."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp
import pytest
from sqlalchemy import text

from osp.errors import Conflict, Forbidden, InvalidInput, NotFound, Throttled, Unauthorized
from osp.identity.service import Principal
from osp.platform import Platform
from osp.tenancy.service import TenantInfo

PASSWORD = "correct horse battery staple"


@pytest.fixture
def tenant(make_tenant: Callable[..., TenantInfo]) -> TenantInfo:
    return make_tenant()


def _user(platform: Platform, t: TenantInfo, email: str = "ada@example.com",
          role: str = "owner") -> None:
    platform.identity.create_user(t, email, PASSWORD, role, "test")


def _full_principal(platform: Platform, t: TenantInfo, email: str = "ada@example.com"
                    ) -> tuple[Principal, str]:
    result = platform.identity.login(t.name, email, PASSWORD, "10.0.0.1")
    return platform.identity.authenticate_session(result.token), result.token


def _enrol(platform: Platform, t: TenantInfo) -> tuple[pyotp.TOTP, list[str]]:
    principal, _ = _full_principal(platform, t)
    _uri, seed = platform.identity.enrol_totp(principal)
    totp = pyotp.TOTP(seed)
    codes = platform.identity.confirm_totp(principal, totp.now())
    return totp, codes


def test_password_is_stored_as_argon2id(platform: Platform, tenant: TenantInfo) -> None:
    _user(platform, tenant)
    with platform.db.tenant(tenant.id) as s:
        stored = s.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_login_without_2fa_gives_a_full_session(platform: Platform, tenant: TenantInfo) -> None:
    _user(platform, tenant)
    principal, _ = _full_principal(platform, tenant)
    assert principal.stage == "full" and "secrets:write" in principal.scopes


def test_wrong_password_and_unknown_user_look_the_same(platform: Platform,
                                                       tenant: TenantInfo) -> None:
    _user(platform, tenant)
    for email, pw in (("ada@example.com", "wrong password!!"), ("nobody@example.com", PASSWORD)):
        with pytest.raises(Unauthorized, match="invalid credentials"):
            platform.identity.login(tenant.name, email, pw, "10.0.0.2")
    with pytest.raises(Unauthorized, match="invalid credentials"):
        platform.identity.login("no-such-tenant", "ada@example.com", PASSWORD, "10.0.0.2")
    with platform.db.tenant(tenant.id) as s:
        kinds = [e.kind for e in platform.audit.list(s, tenant.id)]
    assert kinds.count("login.failed") == 2


def test_account_is_throttled_after_repeated_failures(platform: Platform,
                                                      tenant: TenantInfo) -> None:
    _user(platform, tenant)
    for i in range(5):
        with pytest.raises(Unauthorized):
            platform.identity.login(tenant.name, "ada@example.com", "bad password xx",
                                    f"10.1.0.{i}")
    # Even the right password is refused while locked, from any address.
    with pytest.raises(Throttled):
        platform.identity.login(tenant.name, "ada@example.com", PASSWORD, "10.1.1.1")


def test_client_address_is_throttled_across_accounts(platform: Platform,
                                                     make_tenant: Callable[..., TenantInfo]
                                                     ) -> None:
    t = make_tenant()
    _user(platform, t)
    for i in range(20):
        with pytest.raises(Unauthorized):
            platform.identity.login(t.name, f"u{i}@example.com", "bad password xx", "10.9.9.9")
    with pytest.raises(Throttled):
        platform.identity.login(t.name, "ada@example.com", PASSWORD, "10.9.9.9")


def test_totp_login_flow_and_replay_refused(platform: Platform, tenant: TenantInfo) -> None:
    _user(platform, tenant)
    totp, codes = _enrol(platform, tenant)
    assert len(codes) == 10
    pending = platform.identity.login(tenant.name, "ada@example.com", PASSWORD, "10.0.0.3")
    assert pending.stage == "mfa"
    with pytest.raises(Forbidden):
        platform.identity.authenticate_session(pending.token).require("secrets:read")
    with pytest.raises(Unauthorized):
        platform.identity.complete_mfa(pending.token, "000000", None)
    # The code used at enrolment is the newest step: it cannot be used again (replay).
    with pytest.raises(Unauthorized):
        platform.identity.complete_mfa(pending.token, totp.now(), None)
    next_code = totp.at(time.time() + 30)
    full = platform.identity.complete_mfa(pending.token, next_code, None)
    assert full.stage == "full"
    with pytest.raises(Unauthorized):  # the pending session was retired
        platform.identity.authenticate_session(pending.token)
    again = platform.identity.login(tenant.name, "ada@example.com", PASSWORD, "10.0.0.3")
    with pytest.raises(Unauthorized):
        platform.identity.complete_mfa(again.token, next_code, None)


def test_recovery_code_works_once(platform: Platform, tenant: TenantInfo) -> None:
    _user(platform, tenant)
    _totp, codes = _enrol(platform, tenant)
    first = platform.identity.login(tenant.name, "ada@example.com", PASSWORD, "10.0.0.4")
    assert platform.identity.complete_mfa(first.token, None, codes[0]).stage == "full"
    second = platform.identity.login(tenant.name, "ada@example.com", PASSWORD, "10.0.0.4")
    with pytest.raises(Unauthorized):
        platform.identity.complete_mfa(second.token, None, codes[0])
    with platform.db.tenant(tenant.id) as s:
        hashes = list(s.execute(text("SELECT code_hash FROM recovery_codes")).scalars())
    assert codes[1] not in hashes and len(hashes) == 10


def test_totp_seed_is_sealed_at_rest(platform: Platform, tenant: TenantInfo,
                                     superuser_sql: Callable[..., list]) -> None:
    _user(platform, tenant)
    principal, _ = _full_principal(platform, tenant)
    _uri, seed = platform.identity.enrol_totp(principal)
    [(ct,)] = superuser_sql(f"SELECT totp_ciphertext FROM users WHERE tenant_id = '{tenant.id}'")
    assert seed.encode() not in bytes(ct)


def test_tenant_requiring_2fa_forces_enrolment(platform: Platform,
                                               make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant(require_2fa=True)
    _user(platform, t)
    result = platform.identity.login(t.name, "ada@example.com", PASSWORD, "10.0.0.5")
    assert result.stage == "enrol"
    principal = platform.identity.authenticate_session(result.token)
    with pytest.raises(Forbidden):
        principal.require("secrets:read")
    _uri, seed = platform.identity.enrol_totp(principal)
    platform.identity.confirm_totp(principal, pyotp.TOTP(seed).now())
    assert platform.identity.authenticate_session(result.token).stage == "full"


def test_api_tokens_are_hashed_scoped_and_revocable(platform: Platform,
                                                    tenant: TenantInfo) -> None:
    _user(platform, tenant)
    principal, _ = _full_principal(platform, tenant)
    token_id, token = platform.identity.create_token(principal, "ci", ["secrets:read"], 30)
    with platform.db.tenant(tenant.id) as s:
        stored = s.execute(text("SELECT token_hash FROM api_tokens")).scalar_one()
    assert token.split("_")[-1] not in stored
    p = platform.identity.authenticate_token(token)
    assert p.scopes == {"secrets:read"}
    with pytest.raises(Forbidden):
        p.require("secrets:write")
    platform.identity.revoke_token(principal, token_id)
    with pytest.raises(Unauthorized):
        platform.identity.authenticate_token(token)


def test_token_cannot_exceed_its_creators_role(platform: Platform, tenant: TenantInfo) -> None:
    _user(platform, tenant, "m@example.com", "member")
    member, _ = _full_principal(platform, tenant, "m@example.com")
    with pytest.raises(Forbidden):
        platform.identity.create_token(member, "x", ["secrets:read"], None)


def test_forged_or_cross_tenant_token_is_refused(platform: Platform,
                                                 make_tenant: Callable[..., TenantInfo]) -> None:
    a, b = make_tenant("a"), make_tenant("b")
    _user(platform, a)
    principal, _ = _full_principal(platform, a)
    _id, token = platform.identity.create_token(principal, "x", ["secrets:read"], None)
    forged = token.replace(a.id.hex, b.id.hex)  # same secret, presented as tenant B's
    for bad in (forged, "ospt_garbage", token[:-3] + "abc", ""):
        with pytest.raises(Unauthorized):
            platform.identity.authenticate_token(bad)


@pytest.mark.parametrize(("email", "password", "role", "error"), [
    ("not-an-email", PASSWORD, "member", InvalidInput),
    ("a@example.com", "short", "member", InvalidInput),
    ("a@example.com", PASSWORD, "root", InvalidInput),
])
def test_bad_user_input_writes_nothing(platform: Platform, tenant: TenantInfo, email: str,
                                       password: str, role: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        platform.identity.create_user(tenant, email, password, role, "test")
    assert platform.identity.list_users(tenant.id) == []


def test_duplicate_user_and_unknown_tenant(platform: Platform, tenant: TenantInfo) -> None:
    _user(platform, tenant)
    with pytest.raises(Conflict):
        _user(platform, tenant, "ADA@example.com")
    with pytest.raises(NotFound):  # the edge resolves the name before the service runs
        platform.tenants.get("no-such-tenant")


def test_second_factor_guesses_are_throttled_across_logins(platform: Platform,
                                                           tenant: TenantInfo) -> None:
    _user(platform, tenant)
    totp, _codes = _enrol(platform, tenant)
    for _ in range(5):
        # A fresh password login each time must not reset the second-factor counter.
        pending = platform.identity.login(tenant.name, "ada@example.com", PASSWORD, "10.0.0.8")
        with pytest.raises(Unauthorized):
            platform.identity.complete_mfa(pending.token, "000000", None)
    pending = platform.identity.login(tenant.name, "ada@example.com", PASSWORD, "10.0.0.8")
    with pytest.raises(Throttled):
        platform.identity.complete_mfa(pending.token, totp.at(time.time() + 30), None)
