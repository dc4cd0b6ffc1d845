"""Row-level security, attacked from the app role (SPEC §D)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from osp.platform import Platform
from osp.tenancy.service import TenantInfo


@pytest.fixture
def two_tenants(platform: Platform, make_tenant: Callable[..., TenantInfo]
                ) -> tuple[TenantInfo, TenantInfo]:
    a, b = make_tenant("a"), make_tenant("b")
    for t in (a, b):
        with platform.db.tenant(t.id) as s:
            platform.vault.put(s, t.id, "MODEL_API_KEY", f"key-of-{t.name}".encode(), "test")
        platform.identity.create_user(t, f"owner@{t.name}.example", "correct horse battery",
                                      "owner", "test")
    return a, b


def test_tenant_context_sees_only_its_own_rows_without_where(
        platform: Platform, two_tenants: tuple[TenantInfo, TenantInfo]) -> None:
    a, _ = two_tenants
    with platform.db.tenant(a.id) as s:
        for table in ("secret_versions", "users", "audit_events"):
            owners = set(s.execute(text(f"SELECT tenant_id FROM {table}")).scalars())
            assert owners == {a.id}, table
        assert set(s.execute(text("SELECT id FROM tenants")).scalars()) == {a.id}


def test_no_context_returns_nothing_and_writes_fail(
        platform: Platform, two_tenants: tuple[TenantInfo, TenantInfo]) -> None:
    a, _ = two_tenants
    with platform.db.unscoped() as s:
        for table in ("secret_versions", "users", "audit_events", "tenants"):
            assert s.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
    with pytest.raises(ProgrammingError, match="row-level security"), platform.db.unscoped() as s:
        s.execute(text("INSERT INTO users (id, tenant_id, email, password_hash, role) "
                       "VALUES (gen_random_uuid(), :t, 'x@y.z', 'h', 'member')"), {"t": a.id})


def test_insert_carrying_another_tenants_id_is_rejected(
        platform: Platform, two_tenants: tuple[TenantInfo, TenantInfo]) -> None:
    a, b = two_tenants
    with pytest.raises(ProgrammingError, match="row-level security"), platform.db.tenant(a.id) as s:
        s.execute(text("INSERT INTO users (id, tenant_id, email, password_hash, role) "
                       "VALUES (gen_random_uuid(), :t, 'evil@x.example', 'h', 'owner')"),
                  {"t": b.id})


def test_update_cannot_move_a_row_to_another_tenant(
        platform: Platform, two_tenants: tuple[TenantInfo, TenantInfo]) -> None:
    a, b = two_tenants
    with pytest.raises(ProgrammingError, match="row-level security"), platform.db.tenant(a.id) as s:
        s.execute(text("UPDATE secret_versions SET tenant_id = :b"), {"b": b.id})


def test_context_does_not_leak_to_the_next_unit_of_work(
        platform: Platform, two_tenants: tuple[TenantInfo, TenantInfo]) -> None:
    a, _ = two_tenants
    with platform.db.tenant(a.id) as s:
        assert s.execute(text("SELECT count(*) FROM users")).scalar() == 1
    for _ in range(10):  # every pooled connection
        with platform.db.unscoped() as s:
            assert s.execute(text("SELECT count(*) FROM users")).scalar() == 0


@pytest.mark.parametrize("stmt", [
    "ALTER TABLE users DISABLE ROW LEVEL SECURITY",
    "ALTER TABLE users NO FORCE ROW LEVEL SECURITY",
    "DROP POLICY tenant_isolation ON users",
    "SET ROLE osp_owner",
    "SET row_security = off; SELECT * FROM users",
    "UPDATE audit_events SET actor = 'x'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
])
def test_app_role_cannot_switch_rls_off_or_rewrite_audit(
        platform: Platform, two_tenants: tuple[TenantInfo, TenantInfo], stmt: str) -> None:
    a, _ = two_tenants
    with pytest.raises(DBAPIError), platform.db.tenant(a.id) as s:
        for part in stmt.split("; "):
            s.execute(text(part))


def test_every_tenant_table_is_forced_under_rls_with_an_index(platform: Platform,
                                                              superuser_sql: Callable[..., list]
                                                              ) -> None:
    rows = superuser_sql(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "  (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid), "
        "  (SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "     AND a.attnum = i.indkey[0] WHERE i.indrelid = c.oid AND a.attname = 'tenant_id'), "
        "  (SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = c.oid "
        "     AND a.attname = 'tenant_id') "
        "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r'")
    assert len(rows) >= 6
    for name, rls, force, policies, indexed, notnull in rows:
        assert rls and force and policies >= 1 and indexed >= 1 and notnull, name


def test_views_if_any_are_security_invoker(superuser_sql: Callable[..., list]) -> None:
    rows = superuser_sql(
        "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'v'")
    for name, options in rows:
        assert options and "security_invoker=true" in options, name
