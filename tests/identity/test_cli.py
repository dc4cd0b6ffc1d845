"""`osp user ...` and `osp token ...`: a tenant's people and tokens from the operator's shell,
through the same `register` osp.cli uses, against the real database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import typer
from typer.testing import CliRunner, Result

from osp.app import App
from osp.errors import Unauthorized
from osp.identity import cli as identity_cli
from osp.platform import Platform
from osp.tenancy.service import TenantInfo

PASSWORD = "correct horse battery"
# Its own client address: the address throttle is shared by every test in the session.
ADDRESS = f"10.77.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


@pytest.fixture
def run(platform: Platform) -> Callable[..., Result]:
    app = typer.Typer()

    @contextmanager
    def open_app(**_kw: object) -> Iterator[App]:
        yield App(platform)

    identity_cli.register(app, open_app)
    runner = CliRunner()

    def invoke(*args: str, stdin: str = "", ok: bool = True) -> Result:
        r = runner.invoke(app, list(args), input=stdin)
        if ok:
            assert r.exit_code == 0, (r.output, r.exception)
        return r

    return invoke


def _events(platform: Platform, tenant: TenantInfo) -> list[tuple[str, str]]:
    with platform.db.tenant(tenant.id) as s:
        return [(e.actor, e.kind) for e in platform.audit.list(s, tenant.id, 200)]


def test_user_and_token_lifecycle(platform: Platform, run: Callable[..., Result],
                                  make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    run("user", "create", t.name, "Boss@Example.com", "--role", "owner", stdin=PASSWORD)
    run("user", "create", t.name, "ann@example.com", stdin=PASSWORD)
    users = json.loads(run("user", "list", t.name, "--json").stdout)
    assert [(u["email"], u["role"], u["two_factor"]) for u in users] == [
        ("ann@example.com", "member", False), ("boss@example.com", "owner", False)]

    # A member's token cannot carry more than chat and tenant:read.
    r = run("token", "create", t.name, "--scopes", "chat,audit:read", "--user",
            "ann@example.com", ok=False)
    assert r.exit_code == 1 and "audit:read" in str(r.exception)
    r = run("user", "set-role", t.name, "ann@example.com", "admin")
    assert "member -> admin" in r.stdout
    r = run("token", "create", t.name, "--scopes", "chat", "--scopes", "audit:read",
            "--user", "ann@example.com", "--expires-days", "7", "--name", "ci")
    token = r.stdout.strip()
    assert token.startswith("ospt_") and "\n" not in token  # alone on stdout
    principal = platform.identity.authenticate_token(token)
    assert principal.scopes == {"chat", "audit:read"}

    # Without a person the token is bounded by the admin role: no tenant:write.
    r = run("token", "create", t.name, "--scopes", "tenant:write", ok=False)
    assert "tenant:write" in str(r.exception) and "--user" in str(r.exception)
    assert run("token", "create", t.name, "--scopes", "tenant:write", "--user",
               "boss@example.com").stdout.startswith("ospt_")

    listed = json.loads(run("token", "list", t.name, "--json").stdout)
    ci = next(x for x in listed if x["name"] == "ci")
    assert ci["user"] == "ann@example.com" and ci["scopes"] == ["audit:read", "chat"]
    assert token not in json.dumps(listed)
    run("token", "revoke", t.name, ci["id"])
    with pytest.raises(Unauthorized):
        platform.identity.authenticate_token(token)
    assert [x["name"] for x in json.loads(run("token", "list", t.name, "--json",
                                              "--all").stdout)
            if x["state"] == "revoked"] == ["ci"]

    # A password reset ends the sessions that used the old one.
    session = platform.identity.login(t.name, "ann@example.com", PASSWORD, ADDRESS)
    run("user", "reset-password", t.name, "ann@example.com", stdin="another long password")
    with pytest.raises(Unauthorized):
        platform.identity.authenticate_session(session.token)
    with pytest.raises(Unauthorized):
        platform.identity.login(t.name, "ann@example.com", PASSWORD, ADDRESS)
    platform.identity.login(t.name, "ann@example.com", "another long password", ADDRESS)

    run("user", "reset-2fa", t.name, "ann@example.com")
    # The last owner stays: no demotion, no deletion.
    r = run("user", "set-role", t.name, "boss@example.com", "member", ok=False)
    assert "last owner" in str(r.exception)
    r = run("user", "delete", t.name, "boss@example.com", "--yes", ok=False)
    assert r.exit_code == 1
    run("user", "delete", t.name, "ann@example.com", "--yes")
    assert [u.email for u in platform.identity.list_users(t.id)] == ["boss@example.com"]

    kinds = [k for actor, k in _events(platform, t) if actor == "cli:operator"]
    for kind in ("user.created", "user.role_changed", "token.created", "token.revoked",
                 "user.password_reset", "user.2fa_reset", "user.deleted"):
        assert kind in kinds, kind


def test_bad_token_id_and_unknown_user_are_one_line(
        run: Callable[..., Result], make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    r = run("token", "revoke", t.name, "not-a-uuid", ok=False)
    assert "not a token id" in str(r.exception)
    r = run("token", "revoke", t.name, str(uuid.uuid4()), ok=False)
    assert "no such token" in str(r.exception)
    r = run("user", "reset-2fa", t.name, "nobody@example.com", ok=False)
    assert "no user nobody@example.com" in str(r.exception)
