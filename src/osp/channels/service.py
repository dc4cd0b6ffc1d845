"""Inbound Slack and Telegram webhooks: verified, de-duplicated, persisted, then answered.

* Slack: the v0 signature (HMAC-SHA256 of ``v0:<timestamp>:<raw body>`` under the tenant's
  ``SLACK_SIGNING_SECRET``) is checked in constant time and timestamps older than five
  minutes are refused (replay). Slack retries deliveries it did not see acknowledged;
  event ids already accepted are acknowledged again without running the agent twice.
* Telegram: the ``X-Telegram-Bot-Api-Secret-Token`` header must equal the tenant's
  ``TELEGRAM_WEBHOOK_SECRET``; update ids are de-duplicated the same way.

Verification secrets are read from the vault here, at the edge. The bot tokens that *send*
replies are only in the agent's memory (boot injection): the control plane asks the agent
to deliver a reply after that reply's decisions are in the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError

from osp.audit.unproven import UnprovenTrail
from osp.channels.models import ChannelEvent
from osp.db.session import Database
from osp.errors import InvalidInput, NotFound, OspError, Unauthorized
from osp.gateway.service import GatewayService
from osp.logs import get_logger
from osp.tenancy.service import TenantInfo, TenantService
from osp.vault.service import Vault

log = get_logger("osp.channels")
SLACK_SIGNING_SECRET = "SLACK_SIGNING_SECRET"  # noqa: S105 - secret names
TELEGRAM_WEBHOOK_SECRET = "TELEGRAM_WEBHOOK_SECRET"  # noqa: S105
MAX_SKEW_S = 300
MAX_BODY = 1024 * 1024


def slack_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


class ChannelService:
    def __init__(self, db: Database, tenants: TenantService, vault: Vault,
                 gateway: GatewayService, unproven: UnprovenTrail) -> None:
        self.db = db
        self.tenants = tenants
        self.vault = vault
        self.gateway = gateway
        self.unproven = unproven
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------
    def _tenant(self, channel: str, name: str) -> TenantInfo:
        try:
            return self.tenants.get(name)
        except (NotFound, InvalidInput):
            raise self._refuse(name, channel, "unknown tenant") from None

    def _secret(self, tenant: TenantInfo, channel: str, name: str) -> bytes:
        try:
            with self.db.tenant(tenant.id) as s:
                return self.vault.get(s, tenant.id, name)
        except NotFound:
            # Not configured means nothing can be verified: refuse (fail closed).
            raise self._refuse(tenant.name, channel, "channel not configured") from None

    def _refuse(self, claimed: str, channel: str, reason: str) -> Unauthorized:
        # An unsigned or forged request proves nothing about the tenant in its URL: the
        # refusal goes to the rate-limited platform trail, not into that tenant's trail.
        self.unproven.record("channel.refused", {"channel": channel, "reason": reason,
                                                 "claimed_tenant": claimed[:64]})
        # One answer for every refusal (unknown tenant, channel not configured, bad
        # signature): an unauthenticated caller must not learn which tenant names exist
        # or which channels they use. The reason is only in the platform trail.
        return Unauthorized(f"{channel} request refused")

    def _first_time(self, tenant: TenantInfo, channel: str, event_id: str) -> bool:
        try:
            with self.db.tenant(tenant.id) as s:
                s.add(ChannelEvent(tenant_id=tenant.id, channel=channel,
                                   event_id=event_id[:128]))
                s.flush()
        except IntegrityError:
            return False
        return True

    def _dispatch(self, tenant: TenantInfo, channel: str, user: str, text: str,
                  reply_to: dict[str, Any]) -> uuid.UUID:
        message_id = self.gateway.enqueue(tenant, channel, user, text, reply_to=reply_to)
        # Webhooks must be acknowledged within seconds; the message is already persisted,
        # so the answer is produced in the background and its failures stay visible on it.
        thread = threading.Thread(target=self._answer, args=(tenant, message_id, reply_to),
                                  daemon=True, name=f"osp-channel-{channel}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return message_id

    def _answer(self, tenant: TenantInfo, message_id: uuid.UUID,
                reply_to: dict[str, Any]) -> None:
        try:
            result = self.gateway.deliver(tenant, message_id)
            self.gateway.agent_post(tenant, "/v1/deliver", {
                "reply_to": reply_to, "text": result.reply or "",
                "config": self.gateway.settings.document(tenant.id)})
        except OspError as exc:
            log.warning("channel_reply_failed", tenant=tenant.name, message_id=str(message_id),
                        reason=exc.message)

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Join the background answers (tests, graceful shutdown)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    # -- Slack -----------------------------------------------------------------------------
    def slack_event(self, tenant_name: str, body: bytes,
                    headers: Mapping[str, str]) -> dict[str, Any]:
        tenant = self._tenant("slack", tenant_name)
        secret = self._secret(tenant, "slack", SLACK_SIGNING_SECRET)
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_S:
            raise self._refuse(tenant.name, "slack", "stale or missing timestamp")
        if not hmac.compare_digest(signature.encode(),
                                   slack_signature(secret, timestamp, body).encode()):
            raise self._refuse(tenant.name, "slack", "bad signature")
        try:
            payload = json.loads(body)
        except ValueError:
            raise InvalidInput("body is not JSON") from None
        if not isinstance(payload, dict):
            raise InvalidInput("body is not a JSON object")
        if payload.get("type") == "url_verification":
            return {"challenge": str(payload.get("challenge", ""))}
        if payload.get("type") != "event_callback":
            return {"ok": True, "ignored": "not an event"}
        event = payload.get("event") or {}
        event_id = str(payload.get("event_id") or "")
        if not event_id:
            raise InvalidInput("event_id is missing")
        if not self._first_time(tenant, "slack", event_id):
            return {"ok": True, "duplicate": True}
        # Our own replies come back as events: never answer a bot (no reply loops).
        if event.get("bot_id") or event.get("subtype") or \
                event.get("type") not in ("message", "app_mention"):
            return {"ok": True, "ignored": "not a person's message"}
        text = str(event.get("text") or "").strip()
        if not text:
            return {"ok": True, "ignored": "empty"}
        reply_to = {"slack": {"channel": str(event.get("channel", "")),
                              "thread_ts": str(event.get("thread_ts") or event.get("ts") or "")}}
        message_id = self._dispatch(tenant, "slack", str(event.get("user", "unknown")),
                                    text, reply_to)
        return {"ok": True, "message_id": str(message_id)}

    # -- Telegram --------------------------------------------------------------------------
    def telegram_update(self, tenant_name: str, body: bytes,
                        headers: Mapping[str, str]) -> dict[str, Any]:
        tenant = self._tenant("telegram", tenant_name)
        secret = self._secret(tenant, "telegram", TELEGRAM_WEBHOOK_SECRET)
        presented = headers.get("x-telegram-bot-api-secret-token", "")
        if not presented or not hmac.compare_digest(presented.encode(), secret):
            raise self._refuse(tenant.name, "telegram", "bad secret token")
        try:
            update = json.loads(body)
        except ValueError:
            raise InvalidInput("body is not JSON") from None
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise InvalidInput("update_id is missing")
        if not self._first_time(tenant, "telegram", str(update["update_id"])):
            return {"ok": True, "duplicate": True}
        message = update.get("message") or {}
        text = str(message.get("text") or "").strip()
        chat_id = (message.get("chat") or {}).get("id")
        sender = message.get("from") or {}
        if not text or chat_id is None or sender.get("is_bot"):
            return {"ok": True, "ignored": "not a person's text message"}
        message_id = self._dispatch(tenant, "telegram", str(sender.get("id", "unknown")),
                                    text, {"telegram": {"chat_id": chat_id}})
        return {"ok": True, "message_id": str(message_id)}
