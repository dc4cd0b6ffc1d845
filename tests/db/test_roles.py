"""The run-time role is checked; an unsafe one makes OSP refuse to start."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest

from osp.config import Settings
from osp.db.roles import check_app_role, migrate
from osp.errors import OspError
from osp.platform import Platform, open_platform


def _dsn_for(platform: Platform, role: str) -> str:
    host = platform.admin_url.split("host=", 1)[1]
    return f"postgresql://{quote(role)}@/osp?host={host}"


def test_osp_app_passes_the_check(platform: Platform) -> None:
    check = check_app_role(platform.db.url)
    assert check.role == "osp_app"
    assert check.problems() == []


def test_migrate_is_idempotent(platform: Platform) -> None:
    migrate(platform.admin_url)
    migrate(platform.admin_url)


@pytest.mark.parametrize(("attrs", "expected"), [
    ("SUPERUSER", "is a superuser"),
    ("BYPASSRLS", "has BYPASSRLS"),
    ("IN ROLE osp_owner", "owns"),
])
def test_refuses_to_start_with_an_unsafe_role(platform: Platform, settings: Settings,
                                              superuser_sql: Callable[..., list],
                                              attrs: str, expected: str) -> None:
    role = f"unsafe_{attrs.split()[-1].lower()}"
    superuser_sql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN {attrs}")
    try:
        unsafe = settings.model_copy(update={"database_url": _dsn_for(platform, role)})
        with pytest.raises(OspError, match=expected), open_platform(unsafe,
                                                                    run_migrations=False):
            pass
    finally:
        superuser_sql(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.parametrize("dsn", ["mysql://x@y/z", "not a dsn", "postgresql://nobody@/osp?host=/nonexistent"])
def test_malformed_or_unreachable_dsn_is_a_clear_error(settings: Settings, dsn: str) -> None:
    bad = settings.model_copy(update={"database_url": dsn})
    with pytest.raises(OspError) as info, open_platform(bad, run_migrations=False):
        pass
    assert "\n" not in info.value.message


def test_app_password_is_stored_as_a_scram_verifier(
        platform: Platform, superuser_sql: Callable[..., list]) -> None:
    password = "app-pw-canary-7f3a"
    migrate(platform.admin_url, password)
    [(stored,)] = superuser_sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'osp_app'")
    assert str(stored).startswith("SCRAM-SHA-256$4096:") and password not in str(stored)


def test_scram_verifier_matches_postgres_own(superuser_sql: Callable[..., list]) -> None:
    import base64

    from osp.db.roles import scram_verifier

    superuser_sql("DROP ROLE IF EXISTS scram_probe; SET password_encryption = 'scram-sha-256'; "
                  "CREATE ROLE scram_probe PASSWORD 'pw-probe'")
    try:
        [(theirs,)] = superuser_sql("SELECT rolpassword FROM pg_authid "
                                    "WHERE rolname = 'scram_probe'")
        iterations, salt = str(theirs).split("$")[1].split(":")
        assert scram_verifier("pw-probe", int(iterations), base64.b64decode(salt)) == theirs
    finally:
        superuser_sql("DROP ROLE IF EXISTS scram_probe")
