"""The page-speed verification (a remembered, fingerprinted prefix) says exactly what a
full verification says: a change before, at or after the remembered seq still reads as
"broken at seq N"."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from osp.audit.service import AuditTrail, VerifyResult
from osp.audit.verified import VerifiedChains
from osp.platform import Platform
from osp.tenancy.service import TenantInfo


class Counting(AuditTrail):
    """Counts the events re-hashed in Python (to show the remembered prefix is skipped)."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, str] | None, int]] = []

    def verify_events(self, tenant_id, events, *, after=None) -> VerifyResult:  # type: ignore[no-untyped-def, override]
        result = super().verify_events(tenant_id, events, after=after)
        self.calls.append((after, result.checked))
        return result


def _record(platform: Platform, t: TenantInfo, n: int) -> None:
    with platform.db.tenant(t.id) as s:
        for i in range(n):
            platform.audit.record(s, t.id, "test", "thing.happened", {"i": i})


def _look(platform: Platform, chains: VerifiedChains, t: TenantInfo) -> VerifyResult:
    with platform.db.tenant(t.id) as s:
        return chains.verify(s, t.id)


def _as_attacker(superuser_sql: Callable[..., list], sql: str) -> None:
    superuser_sql("ALTER TABLE audit_events DISABLE TRIGGER USER; " + sql +
                  "; ALTER TABLE audit_events ENABLE TRIGGER USER")


@pytest.fixture
def trail(platform: Platform, make_tenant: Callable[..., TenantInfo]) -> TenantInfo:
    t = make_tenant()  # seq 1: tenant.created
    _record(platform, t, 5)
    return t


def test_a_second_look_verifies_only_the_new_events(platform: Platform,
                                                    trail: TenantInfo) -> None:
    audit = Counting()
    chains = VerifiedChains(audit)
    first = _look(platform, chains, trail)
    assert first.ok and first.checked == 6 and audit.calls == [(None, 6)]
    _record(platform, trail, 2)
    second = _look(platform, chains, trail)
    assert second.ok and second.checked == 8
    after, hashed = audit.calls[-1]
    assert after is not None and after[0] == 6 and hashed == 2  # only seq 7 and 8
    third = _look(platform, chains, trail)  # nothing new: nothing re-hashed
    assert third.ok and third.checked == 8 and len(audit.calls) == 2


@pytest.mark.parametrize("column,value", [("actor", "'someone else'"),
                                          ("details", "'{\"i\": 99}'"),
                                          ("kind", "'thing.other'")])
def test_a_change_inside_the_remembered_prefix_is_seen(
        platform: Platform, trail: TenantInfo, superuser_sql: Callable[..., list],
        column: str, value: str) -> None:
    chains = VerifiedChains(platform.audit)
    assert _look(platform, chains, trail).ok
    _as_attacker(superuser_sql, f"UPDATE audit_events SET {column} = {value} "
                                f"WHERE tenant_id = '{trail.id}' AND seq = 3")
    result = _look(platform, chains, trail)
    assert result.broken_at == 3
    assert _look(platform, chains, trail).broken_at == 3  # and stays seen


def test_a_change_after_the_remembered_prefix_is_seen(
        platform: Platform, trail: TenantInfo, superuser_sql: Callable[..., list]) -> None:
    chains = VerifiedChains(platform.audit)
    assert _look(platform, chains, trail).ok  # remembers seq 1..6
    _record(platform, trail, 3)  # seq 7..9
    _as_attacker(superuser_sql, f"UPDATE audit_events SET actor = 'x' "
                                f"WHERE tenant_id = '{trail.id}' AND seq = 8")
    assert _look(platform, chains, trail).broken_at == 8


def test_deleting_remembered_or_newest_events_is_seen(
        platform: Platform, trail: TenantInfo, superuser_sql: Callable[..., list]) -> None:
    chains = VerifiedChains(platform.audit)
    assert _look(platform, chains, trail).ok
    _as_attacker(superuser_sql, f"DELETE FROM audit_events WHERE tenant_id = '{trail.id}' "
                                f"AND seq = 2")
    assert _look(platform, chains, trail).broken_at == 2


def test_a_rewritten_prefix_with_recomputed_hashes_is_seen(
        platform: Platform, trail: TenantInfo, superuser_sql: Callable[..., list]) -> None:
    """Same count and a valid-looking chain, but not the rows that were verified: the
    fingerprint differs, so everything is re-hashed (and the edit shows)."""
    chains = VerifiedChains(platform.audit)
    assert _look(platform, chains, trail).ok
    _as_attacker(superuser_sql, f"UPDATE audit_events SET prev_hash = repeat('0', 64) "
                                f"WHERE tenant_id = '{trail.id}' AND seq = 4")
    assert _look(platform, chains, trail).broken_at == 4
