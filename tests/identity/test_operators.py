"""`osp operator create|list|delete` and the operator accounts behind the console's
operator pages: password and TOTP together, codes once, no tenant can see an operator, and
everything lands in the platform trail."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyotp
import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner, Result

from osp.app import App
from osp.audit.unproven import PLATFORM_TRAIL
from osp.errors import Conflict, InvalidInput, Unauthorized
from osp.identity import operator_cli
from osp.identity.models import Operator
from osp.platform import Platform
from osp.tenancy.service import TenantInfo

PASSWORD = "correct horse battery"
ADDRESS = f"10.78.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


@pytest.fixture
def run(platform: Platform) -> Callable[..., Result]:
    app = typer.Typer()

    @contextmanager
    def open_app(**_kw: object) -> Iterator[App]:
        yield App(platform)

    operator_cli.register(app, open_app)
    runner = CliRunner()

    def invoke(*args: str, stdin: str = "", ok: bool = True) -> Result:
        r = runner.invoke(app, list(args), input=stdin)
        if ok:
            assert r.exit_code == 0, (r.output, r.exception)
        return r

    return invoke


def test_create_sign_in_list_delete(platform: Platform, run: Callable[..., Result]) -> None:
    email = f"ops-{uuid.uuid4().hex[:6]}@example.com"
    out = run("operator", "create", email.upper(), "--no-qr", stdin=PASSWORD + "\n").output
    seed = re.search(r"TOTP secret \(shown once\): ([A-Z2-7]+)", out)
    assert seed is not None and "otpauth://totp/" in out
    totp = pyotp.TOTP(seed.group(1))
    ops = platform.operators
    with pytest.raises(Unauthorized):  # the password alone is not enough
        ops.login(email, PASSWORD, "", ADDRESS)
    with pytest.raises(Unauthorized):
        ops.login(email, "wrong password!", totp.now(), ADDRESS)
    login = ops.login(email, PASSWORD, totp.now(), ADDRESS)
    assert ops.authenticate(login.token).email == email
    with pytest.raises(Unauthorized):  # the same code again: a replay
        ops.login(email, PASSWORD, totp.now(), ADDRESS)
    assert email in run("operator", "list").output
    with pytest.raises(Conflict):
        ops.create(email, PASSWORD, "test")
    run("operator", "delete", email)
    with pytest.raises(Unauthorized):  # its sessions went with it
        ops.authenticate(login.token)
    with platform.db.tenant(PLATFORM_TRAIL) as s:
        kinds = [e.kind for e in platform.audit.find(s, PLATFORM_TRAIL, limit=500)
                 if e.details.get("email") == email or e.actor == f"operator:{email}"]
    assert {"operator.created", "operator.login_failed", "operator.login_ok",
            "operator.deleted"} <= set(kinds)


def test_a_weak_password_is_one_line(run: Callable[..., Result]) -> None:
    r = run("operator", "create", "weak@example.com", "--no-qr", stdin="short\n", ok=False)
    assert r.exit_code != 0
    assert isinstance(r.exception, InvalidInput)


def test_no_tenant_context_sees_an_operator(platform: Platform,
                                           make_tenant: Callable[..., TenantInfo]) -> None:
    email = f"ops-{uuid.uuid4().hex[:6]}@example.com"
    platform.operators.create(email, PASSWORD, "test")
    t = make_tenant()
    try:
        with platform.db.tenant(t.id) as s:
            assert s.query(Operator).count() == 0
            assert s.execute(text("SELECT count(*) FROM operator_sessions")).scalar() == 0
        with platform.db.tenant(PLATFORM_TRAIL) as s:  # not the platform trail's scope either
            assert s.query(Operator).count() == 0
        with platform.db.platform() as s:
            assert s.query(Operator).filter(Operator.email == email).count() == 1
    finally:
        platform.operators.delete(email, "test")


def test_a_tenant_session_token_is_no_operator_token(platform: Platform,
                                                     make_tenant: Callable[..., TenantInfo]
                                                     ) -> None:
    t = make_tenant()
    platform.identity.create_user(t, "o@example.com", PASSWORD, "owner", "test")
    login = platform.identity.login(t.name, "o@example.com", PASSWORD, ADDRESS)
    with pytest.raises(Unauthorized):
        platform.operators.authenticate(login.token)
