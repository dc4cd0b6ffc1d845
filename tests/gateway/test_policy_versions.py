"""Policy versions in the database: numbered per tenant, append-only for the application,
invisible across tenants (RLS), removed with their tenant."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from osp.errors import InvalidInput, NotFound
from osp.gateway.models import PolicyVersion
from osp.gateway.settings import AgentSettings
from osp.platform import Platform
from osp.tenancy.service import TenantInfo


@pytest.fixture
def agent_settings(platform: Platform) -> AgentSettings:
    return AgentSettings(platform.db, platform.audit)


def test_every_save_is_a_version_and_restore_adds_one(agent_settings: AgentSettings,
                                                      make_tenant: Callable[..., TenantInfo]
                                                      ) -> None:
    t = make_tenant()
    agent_settings.set_document(t.id, {"system_prompt": "a"}, "user:1", note="first")
    agent_settings.set_document(t.id, {"system_prompt": "b"}, "user:2")
    agent_settings.restore(t.id, 1, "user:3")
    versions = agent_settings.versions(t.id)
    assert [(v.version, v.actor, v.document.get("system_prompt")) for v in versions] == [
        (3, "user:3", "a"), (2, "user:2", "b"), (1, "user:1", "a")]
    assert versions[0].digest == versions[2].digest and versions[0].restored_from == 1
    with pytest.raises(NotFound):
        agent_settings.restore(t.id, 9, "user:3")
    with pytest.raises(InvalidInput):
        agent_settings.set_document(t.id, {"history_turns": -1}, "user:1")
    with pytest.raises(InvalidInput):
        agent_settings.set_document(t.id, {}, "user:1", note="n" * 201)
    assert len(agent_settings.versions(t.id)) == 3  # refused saves leave no version


@pytest.mark.parametrize("sql", [
    "UPDATE policy_versions SET note = 'rewritten'",
    "DELETE FROM policy_versions",
])
def test_versions_cannot_be_changed_or_removed_by_the_app(platform: Platform,
                                                          agent_settings: AgentSettings,
                                                          make_tenant: Callable[..., TenantInfo],
                                                          sql: str) -> None:
    t = make_tenant()
    agent_settings.set_document(t.id, {"system_prompt": "a"}, "user:1")
    with pytest.raises(DBAPIError, match=r"permission denied|append-only"), \
            platform.db.tenant(t.id) as s:
        s.execute(text(sql))
    assert agent_settings.versions(t.id)[0].note == ""


def test_the_owner_role_cannot_rewrite_a_version_either(platform: Platform,
                                                        agent_settings: AgentSettings,
                                                        make_tenant: Callable[..., TenantInfo],
                                                        superuser_sql: Callable[..., list]
                                                        ) -> None:
    t = make_tenant()
    agent_settings.set_document(t.id, {"system_prompt": "a"}, "user:1")
    with pytest.raises(DBAPIError, match="append-only"):
        superuser_sql(f"UPDATE policy_versions SET note = 'x' WHERE tenant_id = '{t.id}'")


def test_another_tenant_sees_no_versions(platform: Platform, agent_settings: AgentSettings,
                                         make_tenant: Callable[..., TenantInfo]) -> None:
    a, b = make_tenant(), make_tenant()
    agent_settings.set_document(a.id, {"system_prompt": "a"}, "user:1")
    with platform.db.tenant(b.id) as s:
        assert s.query(PolicyVersion).count() == 0
        with pytest.raises(DBAPIError):
            s.add(PolicyVersion(tenant_id=a.id, version=2, document={}, digest="0" * 64,
                                actor="x", note=""))
            s.flush()


def test_versions_go_with_their_tenant(platform: Platform, agent_settings: AgentSettings,
                                       make_tenant: Callable[..., TenantInfo],
                                       superuser_sql: Callable[..., list]) -> None:
    t = make_tenant()
    agent_settings.set_document(t.id, {"system_prompt": "a"}, "user:1")
    platform.tenants.delete(t, "test")
    assert superuser_sql(f"SELECT count(*) FROM policy_versions WHERE tenant_id = '{t.id}'"
                         ) == [(0,)]
