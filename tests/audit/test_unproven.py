"""The platform trail for refusals that proved no tenant: a chain of its own, out of every
tenant's reach under RLS, and rate-limited so an unauthenticated flood stays bounded."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from osp import cli
from osp.audit.unproven import PLATFORM_TRAIL, UnprovenTrail
from osp.cli import app
from osp.platform import Platform
from osp.tenancy.service import TenantInfo


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_is_cut_to_the_rate_and_what_was_dropped_is_counted(
        platform: Platform) -> None:
    clock = Clock()
    trail = UnprovenTrail(platform.db, platform.audit, per_minute=3, clock=clock)
    kind = f"test.flood.{uuid.uuid4().hex[:8]}"
    for i in range(50):
        trail.record(kind, {"i": i})
    clock.now += 60  # the bucket refills
    trail.record(kind, {"i": 50})
    written = [e.details for e in trail.list(1000) if e.kind == kind]
    assert written == [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 50, "suppressed_before": 47}]
    assert trail.verify().ok


def test_kinds_have_their_own_budget(platform: Platform) -> None:
    trail = UnprovenTrail(platform.db, platform.audit, per_minute=1, clock=Clock())
    a, b = f"test.a.{uuid.uuid4().hex[:8]}", f"test.b.{uuid.uuid4().hex[:8]}"
    for kind in (a, a, b):
        trail.record(kind, {})
    assert [e.kind for e in trail.list(1000) if e.kind in (a, b)] == [a, b]


def test_no_tenant_can_read_or_write_the_platform_trail(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    platform.unproven.record("test.visible", {"x": 1})
    tenant = make_tenant()
    with platform.db.tenant(tenant.id) as s:
        seen = s.execute(text("SELECT count(*) FROM audit_events WHERE tenant_id = :t"),
                         {"t": PLATFORM_TRAIL}).scalar_one()
        assert seen == 0
    with pytest.raises(Exception, match="row-level security"), \
            platform.db.tenant(tenant.id) as s:
        platform.audit.record(s, PLATFORM_TRAIL, "tenant", "forged", {})


def test_cli_lists_and_verifies_the_platform_trail(platform: Platform,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def same_platform(**_kw: object) -> Iterator[Platform]:
        yield platform

    monkeypatch.setattr(cli, "platform", same_platform)
    platform.unproven.record("test.cli", {"claimed_tenant": "someone"})
    runner = CliRunner()
    r = runner.invoke(app, ["audit", "verify", "--platform"])
    assert r.exit_code == 0 and "audit trail of the platform intact" in r.output
    r = runner.invoke(app, ["audit", "list", "--platform", "--json", "--limit", "5"])
    assert r.exit_code == 0 and '"claimed_tenant": "someone"' in r.output
    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code != 0 and "name a tenant or pass --platform" in str(r.exception)
