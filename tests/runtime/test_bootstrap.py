"""Bootstrap tokens, on the in-memory store (the Postgres store is exercised end to end)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from osp.runtime.bootstrap import (
    BootstrapService,
    ExchangeRefused,
    MemoryTokenStore,
    hash_token,
)

Event = tuple[str | None, str, dict[str, object]]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make(ttl: int = 60) -> tuple[BootstrapService, MemoryTokenStore, list[Event], Clock]:
    store, events, clock = MemoryTokenStore(), [], Clock()
    service = BootstrapService(
        store, secret_source=lambda t: {"MODEL_KEY": f"value-of-{t}"},
        audit=lambda t, k, d: events.append((t, k, dict(d))),
        runtime_key=os.urandom(32), ttl=timedelta(seconds=ttl), clock=clock)
    return service, store, events, clock


def reasons(events: list[Event]) -> list[object]:
    return [d["reason"] for _, k, d in events if k == "runtime.bootstrap.refused"]


def test_token_is_256_bits_and_only_its_hash_is_stored() -> None:
    service, store, _, _ = make()
    token = service.issue("alpha", "i1")
    assert len(token) >= 43  # 32 bytes, urlsafe base64
    assert list(store._rows) == [hash_token(token)]
    assert token not in repr(store._rows)


def test_exchange_once_then_replay_is_refused_and_audited() -> None:
    service, _, events, _ = make()
    token = service.issue("alpha", "i1")
    result = service.exchange(token, "alpha", "i1")
    assert result.secrets == {"MODEL_KEY": "value-of-alpha"}
    assert result.status_key == service.status_key("i1")
    with pytest.raises(ExchangeRefused, match="replay"):
        service.exchange(token, "alpha", "i1")
    assert reasons(events) == ["replay"]
    ok = [d for _, k, d in events if k == "runtime.bootstrap.exchanged"]
    assert ok == [{"instance_id": "i1", "names": ["MODEL_KEY"]}]


def test_expired_token_is_refused() -> None:
    service, _, events, clock = make(ttl=60)
    token = service.issue("alpha", "i1")
    clock.now += timedelta(seconds=60)
    with pytest.raises(ExchangeRefused, match="expired"):
        service.exchange(token, "alpha", "i1")
    assert reasons(events) == ["expired"]


def test_wrong_tenant_wrong_instance_and_wrong_peer_are_refused() -> None:
    service, _, events, _ = make()
    token = service.issue("alpha", "i1")
    with pytest.raises(ExchangeRefused, match="unknown_token"):
        service.exchange(token, "bravo", "i1")
    # Proves no tenant: platform trail (None), with the claimed name as a detail only.
    assert events[-1][0] is None and events[-1][2]["claimed_tenant"] == "bravo"
    with pytest.raises(ExchangeRefused, match="wrong_instance"):
        service.exchange(token, "alpha", "other")
    with pytest.raises(ExchangeRefused, match="replay"):  # any misuse burns it
        service.exchange(token, "alpha", "i1")
    second = service.issue("alpha", "i2")
    with pytest.raises(ExchangeRefused, match="wrong_peer"):
        service.exchange(second, "alpha", "i2", peer_ok=lambda t: False)
    with pytest.raises(ExchangeRefused, match="missing_token"):
        service.exchange("", "alpha", "i2")
    assert reasons(events) == ["unknown_token", "wrong_instance", "replay", "wrong_peer",
                               "missing_token"]


def test_revoked_instance_cannot_trade() -> None:
    service, _, _, _ = make()
    token = service.issue("alpha", "i1")
    service.revoke("alpha", "i1")
    with pytest.raises(ExchangeRefused, match="replay"):
        service.exchange(token, "alpha", "i1")


def test_lifetime_over_60_seconds_or_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="60"):
        make(ttl=61)
    with pytest.raises(ValueError, match="32 bytes"):
        BootstrapService(MemoryTokenStore(), lambda t: {}, lambda *a: None, b"short")


def test_status_keys_differ_per_instance() -> None:
    service, _, _, _ = make()
    assert service.status_key("i1") != service.status_key("i2")
    assert len(service.status_key("i1")) == 64


def test_the_memory_key_is_the_tenants_across_instances_and_never_anothers() -> None:
    service, _, events, _ = make()
    first = service.exchange(service.issue("alpha", "i1"), "alpha", "i1").memory_key
    again = service.exchange(service.issue("alpha", "i2"), "alpha", "i2").memory_key
    other = service.exchange(service.issue("beta", "i3"), "beta", "i3").memory_key
    assert first == again != other  # a restart reads what the last instance sealed
    assert len(bytes.fromhex(first)) == 32
    assert all(first not in str(e) for e in events)  # never in the audit trail
