"""Anchors outside the database catch what the unkeyed chain alone cannot: a truncated tail
and a history rewritten with every hash recomputed (both need database superuser rights)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from osp import cli
from osp.audit.anchor import AnchorFile, anchor_trails, check_anchor
from osp.audit.service import GENESIS, event_hash
from osp.errors import IntegrityFailure
from osp.platform import Platform
from osp.tenancy.service import TenantInfo

HEAD = 6  # tenant.created, then the fixture's five events


@pytest.fixture
def trail(platform: Platform, make_tenant: Callable[..., TenantInfo]) -> TenantInfo:
    t = make_tenant()
    with platform.db.tenant(t.id) as s:
        for i in range(5):
            platform.audit.record(s, t.id, "test", "thing.happened", {"i": i})
    return t


def _as_attacker(superuser_sql: Callable[..., list], sql: str) -> None:
    superuser_sql("ALTER TABLE audit_events DISABLE TRIGGER USER; " + sql +
                  "; ALTER TABLE audit_events ENABLE TRIGGER USER")


def problems(platform: Platform, t: TenantInfo, anchors: AnchorFile) -> list[str]:
    with platform.db.tenant(t.id) as s:
        return platform.audit.verify(s, t.id).problems + check_anchor(
            s, t.id, anchors.read().get(str(t.id)))


def test_anchoring_records_each_moved_head_once_in_a_private_file(
        platform: Platform, trail: TenantInfo, tmp_path: Path) -> None:
    anchors = AnchorFile(tmp_path / "anchors.json")
    made = anchor_trails(platform.db, anchors, [trail.id])
    assert [(a.trail, a.seq) for a in made] == [(str(trail.id), HEAD)]
    assert stat.S_IMODE((tmp_path / "anchors.json").stat().st_mode) == 0o600
    assert anchor_trails(platform.db, anchors, [trail.id]) == []  # nothing moved
    with platform.db.tenant(trail.id) as s:
        platform.audit.record(s, trail.id, "test", "more", {})
    assert [a.seq for a in anchor_trails(platform.db, anchors, [trail.id])] == [HEAD + 1]
    assert problems(platform, trail, anchors) == []


def test_a_truncated_tail_is_detected(platform: Platform, trail: TenantInfo, tmp_path: Path,
                                      superuser_sql: Callable[..., list]) -> None:
    anchors = AnchorFile(tmp_path / "anchors.json")
    anchor_trails(platform.db, anchors, [trail.id])
    _as_attacker(superuser_sql, f"DELETE FROM audit_events WHERE tenant_id = '{trail.id}' "
                                "AND seq >= 4")
    with platform.db.tenant(trail.id) as s:
        assert platform.audit.verify(s, trail.id).ok  # the chain alone cannot tell ...
    found = problems(platform, trail, anchors)
    assert len(found) == 1 and f"seq {HEAD}" in found[0] and "deleted from the end" in found[0]


def test_a_rewritten_history_with_recomputed_hashes_is_detected(
        platform: Platform, trail: TenantInfo, tmp_path: Path,
        superuser_sql: Callable[..., list]) -> None:
    anchors = AnchorFile(tmp_path / "anchors.json")
    anchor_trails(platform.db, anchors, [trail.id])
    # The attacker changes event 2 and recomputes every hash after it, so the chain is valid.
    with platform.db.tenant(trail.id) as s:
        events = platform.audit.list(s, trail.id, 100)
    prev, updates = GENESIS, []
    for ev in events:
        details = {"i": 99} if ev.seq == 2 else ev.details
        new = event_hash(trail.id, ev.seq, ev.at, ev.actor, ev.kind, details, prev)
        updates.append(f"UPDATE audit_events SET details = '{json.dumps(details)}', "
                       f"prev_hash = '{prev}', hash = '{new}' "
                       f"WHERE tenant_id = '{trail.id}' AND seq = {ev.seq}")
        prev = new
    _as_attacker(superuser_sql, "; ".join(updates))
    with platform.db.tenant(trail.id) as s:
        assert platform.audit.verify(s, trail.id).ok  # the chain alone cannot tell ...
    found = problems(platform, trail, anchors)
    assert len(found) == 1 and "rewritten" in found[0]


def test_an_unreadable_anchor_file_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "anchors.json"
    path.write_text("{not json")
    with pytest.raises(IntegrityFailure, match="unreadable"):
        AnchorFile(path).read()


def test_cli_anchors_and_verify_uses_the_anchor(
        platform: Platform, trail: TenantInfo, superuser_sql: Callable[..., list],
        monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def same_platform(**_kw: object) -> Iterator[Platform]:
        yield platform

    monkeypatch.setattr(cli, "platform", same_platform)
    runner = CliRunner()
    r = runner.invoke(cli.app, ["audit", "anchor", "--json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert {"trail": str(trail.id), "seq": HEAD} in [{"trail": x["trail"], "seq": x["seq"]}
                                                   for x in lines]
    assert runner.invoke(cli.app, ["audit", "verify", trail.name]).exit_code == 0
    _as_attacker(superuser_sql, f"DELETE FROM audit_events WHERE tenant_id = '{trail.id}' "
                                f"AND seq = {HEAD}")
    r = runner.invoke(cli.app, ["audit", "verify", trail.name])
    assert r.exit_code == 1
    assert "deleted from the end" in r.output
