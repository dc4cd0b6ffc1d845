"""The hash chain detects modified, deleted and reordered events."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from osp.platform import Platform
from osp.tenancy.service import TenantInfo


@pytest.fixture
def trail(platform: Platform, make_tenant: Callable[..., TenantInfo]) -> TenantInfo:
    t = make_tenant()
    with platform.db.tenant(t.id) as s:
        for i in range(5):
            platform.audit.record(s, t.id, "test", "thing.happened", {"i": i, "f": 0.1})
    return t


def _verify(platform: Platform, t: TenantInfo) -> list[str]:
    with platform.db.tenant(t.id) as s:
        return platform.audit.verify(s, t.id).problems


def _as_attacker(superuser_sql: Callable[..., list], sql: str) -> None:
    # A superuser can switch the append-only trigger off; the chain must still tell.
    superuser_sql("ALTER TABLE audit_events DISABLE TRIGGER USER; " + sql +
                  "; ALTER TABLE audit_events ENABLE TRIGGER USER")


def test_intact_chain_verifies(platform: Platform, trail: TenantInfo) -> None:
    assert _verify(platform, trail) == []


def test_modified_event_is_detected(platform: Platform, trail: TenantInfo,
                                    superuser_sql: Callable[..., list]) -> None:
    _as_attacker(superuser_sql, f"UPDATE audit_events SET details = '{{\"i\": 99}}' "
                                f"WHERE tenant_id = '{trail.id}' AND seq = 3")
    assert any("seq 3" in p and "modified" in p for p in _verify(platform, trail))


def test_deleted_middle_event_is_detected(platform: Platform, trail: TenantInfo,
                                          superuser_sql: Callable[..., list]) -> None:
    _as_attacker(superuser_sql, f"DELETE FROM audit_events WHERE tenant_id = '{trail.id}' "
                                f"AND seq = 3")
    problems = _verify(platform, trail)
    assert any("missing" in p for p in problems) and any("chain broken" in p for p in problems)


def test_reordered_events_are_detected(platform: Platform, trail: TenantInfo,
                                       superuser_sql: Callable[..., list]) -> None:
    where = f"WHERE tenant_id = '{trail.id}'"
    _as_attacker(superuser_sql, f"UPDATE audit_events SET seq = 1000 {where} AND seq = 2; "
                                f"UPDATE audit_events SET seq = 2 {where} AND seq = 4; "
                                f"UPDATE audit_events SET seq = 4 {where} AND seq = 1000")
    assert _verify(platform, trail) != []


def test_trigger_refuses_update_even_for_the_owner(platform: Platform, trail: TenantInfo,
                                                   superuser_sql: Callable[..., list]) -> None:
    with pytest.raises(Exception, match="append-only"):
        superuser_sql(f"UPDATE audit_events SET actor = 'x' WHERE tenant_id = '{trail.id}'")
    with pytest.raises(Exception, match="append-only"):
        superuser_sql(f"DELETE FROM audit_events WHERE tenant_id = '{trail.id}'")


def test_secret_like_details_are_redacted(platform: Platform,
                                          make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    with platform.db.tenant(t.id) as s:
        ev = platform.audit.record(s, t.id, "test", "x", {"password": "hunter2-canary",
                                                          "note": "Bearer abcdefghijklmnop"})
    assert "hunter2-canary" not in str(ev.details) and "abcdefghijklmnop" not in str(ev.details)


def test_verify_names_the_first_broken_seq(platform: Platform, trail: TenantInfo,
                                           superuser_sql: Callable[..., list]) -> None:
    with platform.db.tenant(trail.id) as s:
        assert platform.audit.verify(s, trail.id).broken_at is None
    _as_attacker(superuser_sql, f"UPDATE audit_events SET details = '{{\"i\": 99}}' "
                                f"WHERE tenant_id = '{trail.id}' AND seq = 4")
    with platform.db.tenant(trail.id) as s:
        assert platform.audit.verify(s, trail.id).broken_at == 4


def test_find_filters_and_pages(platform: Platform, trail: TenantInfo) -> None:
    with platform.db.tenant(trail.id) as s:
        n = platform.audit.record(s, trail.id, "user:someone", "thing.other",
                                  {"message_id": "m1"}).seq
        newest = platform.audit.find(s, trail.id, limit=2)
        assert [e.seq for e in newest] == [n, n - 1]
        assert [e.seq for e in platform.audit.find(s, trail.id, before_seq=3)] == [2, 1]
        assert [e.seq for e in platform.audit.find(s, trail.id, kind="thing.other")] == [n]
        assert len(platform.audit.find(s, trail.id, kind="thing.")) == 6
        assert len(platform.audit.find(s, trail.id, kind="thing%")) == 0  # no wildcards
        assert [e.seq for e in platform.audit.find(s, trail.id, actor="someone")] == [n]
        assert [e.seq for e in platform.audit.find(s, trail.id,
                                                   details={"message_id": "m1"})] == [n]
