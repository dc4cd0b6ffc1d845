"""Slack and Telegram webhooks: verified before anything else, de-duplicated, persisted."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from osp.app.agent import AgentParts
from osp.channels.service import slack_signature
from osp.gateway.models import AgentMessage
from osp.platform import Platform
from osp.tenancy.service import TenantInfo

SIGNING = b"slack-signing-secret-0123456789"


def _secret(platform: Platform, tenant: TenantInfo, name: str, value: bytes) -> None:
    with platform.db.tenant(tenant.id) as s:
        platform.vault.put(s, tenant.id, name, value, "test")


def _event(event_id: str, text: str = "hello bot") -> bytes:
    return json.dumps({"type": "event_callback", "event_id": event_id, "event": {
        "type": "message", "user": "U1", "text": text, "channel": "C1", "ts": "1.2"}}).encode()


def _post(client: TestClient, tenant: TenantInfo, body: bytes, secret: bytes = SIGNING,
          ts: int | None = None, signature: str | None = None) -> httpx.Response:
    stamp = str(ts if ts is not None else int(time.time()))
    sig = signature or slack_signature(secret, stamp, body)
    return client.post(f"/api/v1/channels/slack/{tenant.name}/events", content=body,
                       headers={"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig,
                                "Content-Type": "application/json"})


def _messages(platform: Platform, tenant: TenantInfo) -> int:
    with platform.db.tenant(tenant.id) as s:
        return int(s.execute(select(func.count()).select_from(AgentMessage)).scalar_one())


def test_a_slack_event_with_a_bad_signature_is_refused(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    _secret(platform, tenant, "SLACK_SIGNING_SECRET", SIGNING)
    body = _event("Ev1")

    forged = _post(client, tenant, body, secret=b"someone-elses-secret-000000000")
    stale = _post(client, tenant, body, ts=int(time.time()) - 3600)
    tampered = _post(client, tenant, _event("Ev1", "transfer all the money"),
                     signature=slack_signature(SIGNING, str(int(time.time())), body))

    for response in (forged, stale, tampered):
        assert response.status_code == 401
    assert _messages(platform, tenant) == 0
    with platform.db.tenant(tenant.id) as s:
        assert not [e for e in platform.audit.list(s, tenant.id) if e.kind == "channel.refused"]
    # Forged requests prove nothing about the tenant they name: the platform trail has them.
    refusals = [e.details["reason"] for e in platform.unproven.list(500)
                if e.kind == "channel.refused" and e.details["claimed_tenant"] == tenant.name]
    assert refusals == ["bad signature", "stale or missing timestamp", "bad signature"]


def test_a_flood_of_forged_requests_cannot_grow_the_named_tenants_trail(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    victim = make_tenant()
    _secret(platform, victim, "SLACK_SIGNING_SECRET", SIGNING)

    def counts() -> tuple[int, int]:
        with platform.db.tenant(victim.id) as s:
            own = len(platform.audit.list(s, victim.id, 10_000))
        return own, len(platform.unproven.list(100_000))

    before = counts()
    started = time.monotonic()
    for i in range(300):
        forged = _post(client, victim, _event(f"Ev{i}"), secret=b"attacker-guess-000000000000")
        assert forged.status_code == 401
    elapsed_s = time.monotonic() - started
    after = counts()
    assert after[0] == before[0]  # the victim's trail (and its chain lock) is untouched
    # The platform trail is capped: a full bucket plus what refilled while the flood ran
    # (a slow machine takes longer, and the bucket refills per second).
    cap = platform.unproven.per_minute
    assert after[1] - before[1] <= cap + math.ceil(elapsed_s * cap / 60)
    assert after[1] - before[1] < 300


def test_a_slack_retry_is_not_processed_twice(
        platform: Platform, client: TestClient, parts: AgentParts,
        make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    _secret(platform, tenant, "SLACK_SIGNING_SECRET", SIGNING)

    first = _post(client, tenant, _event("Ev2"))
    retry = _post(client, tenant, _event("Ev2"))
    parts.channels.wait_idle()

    assert first.status_code == 200 and "message_id" in first.json()
    assert retry.json() == {"ok": True, "duplicate": True}
    assert _messages(platform, tenant) == 1
    with platform.db.tenant(tenant.id) as s:
        row = s.execute(select(AgentMessage)).scalar_one()
        text = parts.gateway.protection.open(s, tenant.id, row.id, "text", row.text)
    # No agent runs in this test: the message is kept and visibly failed, not lost (and
    # sealed at rest, see tests/gateway/test_protect.py).
    assert row.status == "failed" and row.channel == "slack" and text == "hello bot"


def test_slack_url_verification_needs_a_valid_signature_too(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    _secret(platform, tenant, "SLACK_SIGNING_SECRET", SIGNING)
    body = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()

    assert _post(client, tenant, body).json() == {"challenge": "abc"}
    assert _post(client, tenant, body, secret=b"x" * 30).status_code == 401


def test_slack_without_a_signing_secret_is_refused(
        client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    refused = _post(client, tenant, _event("Ev3"))
    assert (refused.status_code, refused.json()) == (401, {"error": "slack request refused"})


def test_telegram_needs_its_secret_token_and_deduplicates(
        platform: Platform, client: TestClient, parts: AgentParts,
        make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    _secret(platform, tenant, "TELEGRAM_WEBHOOK_SECRET", b"tg-secret-token-42")
    update = {"update_id": 7, "message": {"text": "hi", "chat": {"id": 99},
                                          "from": {"id": 5, "is_bot": False}}}
    url = f"/api/v1/channels/telegram/{tenant.name}/webhook"

    bad = client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
    missing = client.post(url, json=update)
    good = client.post(url, json=update,
                       headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret-token-42"})
    again = client.post(url, json=update,
                        headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret-token-42"})
    parts.channels.wait_idle()

    assert (bad.status_code, missing.status_code, good.status_code) == (401, 401, 200)
    assert again.json() == {"ok": True, "duplicate": True}
    assert _messages(platform, tenant) == 1


def test_webhooks_answer_alike_for_unknown_and_unconfigured_tenants(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    """Weakness 8 of the outside test: the Telegram webhook confirmed that a tenant name
    exists. Unknown tenant, tenant without the channel, and tenant with the channel but a
    wrong secret must be indistinguishable (status, body, headers that could differ)."""
    unconfigured = make_tenant()
    configured = make_tenant()
    _secret(platform, configured, "TELEGRAM_WEBHOOK_SECRET", b"tg-secret-token-42")
    _secret(platform, configured, "SLACK_SIGNING_SECRET", SIGNING)
    update = {"update_id": 1, "message": {"text": "hi", "chat": {"id": 1}}}

    def telegram(name: str) -> tuple[int, str]:
        r = client.post(f"/api/v1/channels/telegram/{name}/webhook", json=update,
                        headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
        return r.status_code, r.text

    def slack(name: str) -> tuple[int, str]:
        body = _event("EvX")
        stamp = str(int(time.time()))
        r = client.post(f"/api/v1/channels/slack/{name}/events", content=body,
                        headers={"X-Slack-Request-Timestamp": stamp,
                                 "X-Slack-Signature": slack_signature(b"g" * 30, stamp, body),
                                 "Content-Type": "application/json"})
        return r.status_code, r.text

    for ask in (telegram, slack):
        answers = {ask(name) for name in ("no-such-tenant-zz", unconfigured.name,
                                          configured.name, "Not A Name!")}
        assert len(answers) == 1, answers
        assert next(iter(answers))[0] == 401
