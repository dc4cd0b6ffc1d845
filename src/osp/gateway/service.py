"""The chat gateway: persist a message, deliver it to *that* tenant's agent, record every
governance decision in the tenant's audit trail, then hand back the reply.

Order, and why:

1. The message row is committed (``delivering``) before anything is sent, so a crash of the
   control plane, the container or the network mid-message leaves evidence.
2. Delivery is retried while the agent is unreachable (a restarting container) within a
   bounded window; after that the row is marked ``failed`` with the reason and the caller
   gets an error naming the message. Nothing is silently lost.
3. The agent's decisions, the reply and any paused tool call are written in ONE transaction:
   a reply whose decisions cannot be audited is never delivered (fail closed).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from osp import telemetry
from osp.agent.config import parse_config_cached
from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import InvalidInput, NotFound, OspError, Unavailable, UpstreamFailed
from osp.gateway.interfaces import (
    AgentLocator,
    AgentTransport,
    ApprovalRecorder,
    Rejected,
    Unreachable,
)
from osp.gateway.limits import Busy, TurnLimits
from osp.gateway.models import AgentConfigRow, AgentMessage
from osp.gateway.protect import MAX_ERROR_BYTES, MessageProtection, clip_utf8
from osp.gateway.rails import WHERE, GatewayRails, agent_policy
from osp.gateway.settings import AgentSettings, config_from_row, document_of
from osp.governance import Policy, Stage
from osp.inputs import bad_text
from osp.logs import get_logger
from osp.tenancy.service import TenantInfo

log = get_logger("osp.gateway")
MAX_TEXT = 32_000
CHANNELS = ("api", "slack", "telegram")


def _not_running(tenant: TenantInfo) -> str:
    return f"the agent is not running (`osp tenant start {tenant.name}`)"


class DeliveryFailed(Unavailable):
    """The tenant's agent could not be reached in time."""


class ModelFailed(UpstreamFailed):
    """The model provider answered with an error."""


@dataclass
class MessageResult:
    message_id: uuid.UUID
    status: str
    reply: str | None
    approval: dict[str, Any] | None = None
    error: str | None = None
    model_ms: float | None = None
    agent_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"message_id": str(self.message_id), "status": self.status, "reply": self.reply,
                "approval": self.approval, "error": self.error, "model_ms": self.model_ms,
                "agent_ms": self.agent_ms}


@dataclass
class GatewayOptions:
    redeliver_window_s: float = 60.0  # how long a restarting agent is waited for
    poll_s: float = 0.5
    agent_timeout_s: float = 300.0
    max_turns_per_tenant: int = 8  # turns waiting on one tenant's agent at once
    max_turns_total: int = 64  # threads for turns, all tenants together


def audit_details(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Every decision of one turn, in order, plus the overall action of each stage.

    One audit event per turn (not per rail): each event costs a chained, locked insert,
    and a turn makes a dozen decisions; none is dropped.
    """
    decisions: list[dict[str, Any]] = []
    stages: dict[str, list[str]] = {}
    request_ids: list[str] = []
    policy = None
    for rec in records:
        stage = str(rec.get("stage", "unknown"))[:40]
        decision = {k: rec.get(k) for k in ("rail", "action", "reason", "scores", "latency_ms",
                                             "content_hash", "result_hash", "changes",
                                             "advisory", "failed_open", "tool", "approval_id",
                                             "skill", "step", "detail") if rec.get(k) is not None}
        decision["stage"] = stage
        decisions.append(decision)
        stages.setdefault(stage, []).append(str(decision.get("action")))
        policy = policy or rec.get("policy_version")
        if rec.get("request_id") and rec["request_id"] not in request_ids:
            request_ids.append(str(rec["request_id"]))
    summary = {stage: ("reject" if "reject" in actions else "pause" if "pause" in actions
                       else "alter" if "alter" in actions else "allow")
               for stage, actions in stages.items()}
    return {"request_ids": request_ids, "policy_version": policy, "stages": summary,
            "decisions": decisions}


@dataclass(frozen=True)
class PastMessage:
    id: uuid.UUID
    at: datetime
    status: str
    text: str
    reply: str | None
    error: str | None


class GatewayService:
    def __init__(self, db: Database, audit: AuditTrail, settings: AgentSettings,
                 locator: AgentLocator, transport: AgentTransport,
                 approvals: ApprovalRecorder, options: GatewayOptions | None = None,
                 sleep: Callable[[float], None] = time.sleep, *,
                 protection: MessageProtection, rails: GatewayRails | None = None) -> None:
        self.db = db
        self.audit = audit
        self.settings = settings
        self.locator = locator
        self.transport = transport
        self.approvals = approvals
        self.options = options or GatewayOptions()
        self.sleep = sleep
        self.protection = protection
        # The semantic tier runs here, once per control plane (see osp.gateway.rails).
        self.rails = rails if rails is not None else GatewayRails()
        self.limits = TurnLimits(self.options.max_turns_per_tenant,
                                 self.options.max_turns_total)
        # Messages a turn of this process is delivering (the recovery job leaves them be).
        self._active: set[uuid.UUID] = set()
        self._active_lock = threading.Lock()

    # -- messages --------------------------------------------------------------------------
    def send(self, tenant: TenantInfo, channel: str, user: str, text: str, *,
             skill: str | None = None, reply_to: dict[str, Any] | None = None,
             model: dict[str, Any] | None = None) -> MessageResult:
        """Persist (committed: durable before anything is sent), then deliver and wait.

        ``model`` replaces the model section of the tenant's configuration for this one
        message (a fleet upgrade's smoke message against a scripted model); the policy,
        flows and tools stay the tenant's own, so the message passes the same rails."""
        if not self.locator.expected(tenant.id):
            # A stopped agent fails before anything else runs: the message is recorded as
            # failed (visible in the sender's history, audited) in the same transaction that
            # stores it, and no rail or worker spends time on it. A member flooding a
            # stopped agent then costs one commit per message, not two plus the rails.
            reason = _not_running(tenant)
            message_id = self._persist(tenant, channel, user, text, reply_to,
                                       status="failed", failure=reason)[0]
            raise self._failed(tenant, message_id, reason)
        message_id, config = self._persist(tenant, channel, user, text, reply_to,
                                           status="delivering")
        if model is not None:
            config = {**config, "model": model}
            parse_config_cached(config)  # an invalid document never travels
        return self._deliver(tenant, message_id, channel, user[:200] or "anonymous", text,
                             config, skill, running_checked=True)

    def enqueue(self, tenant: TenantInfo, channel: str, user: str, text: str, *,
                reply_to: dict[str, Any] | None = None) -> uuid.UUID:
        """Persist a message for later delivery (channels answer in the background)."""
        return self._persist(tenant, channel, user, text, reply_to, status="queued")[0]

    def _persist(self, tenant: TenantInfo, channel: str, user: str, text: str,
                 reply_to: dict[str, Any] | None, *, status: str,
                 failure: str | None = None) -> tuple[uuid.UUID, dict[str, Any]]:
        if channel not in CHANNELS:
            raise InvalidInput(f"unknown channel {channel[:20]!r}")
        if not text.strip():
            raise InvalidInput("text is empty")
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"text is longer than {MAX_TEXT} characters")
        # Channels hand text over without an input model: the same refusal applies here.
        for what, value in (("text", text), ("user", user)):
            if (why := bad_text(value)) is not None:
                raise InvalidInput(f"{what} {why}")
        if tenant.state != "active":
            raise DeliveryFailed(f"tenant {tenant.name!r} is suspended")
        # The row itself is the record of receipt (channel, user, text, time); the turn's
        # audit event names it by id.
        message_id = uuid.uuid4()
        message = AgentMessage(id=message_id, tenant_id=tenant.id, channel=channel,
                               channel_user=user[:200] or "anonymous",
                               status=status, attempts=int(status == "delivering"),
                               reply_to=reply_to or {})
        with self.db.tenant(tenant.id) as s:
            # Only ciphertext reaches the database (see osp.gateway.protect).
            message.text = self._seal(s, tenant, message_id, "text", text) or ""
            s.add(message)
            if failure is not None:
                message.error = self._seal(s, tenant, message_id, "error", failure)
                self._audit_failure(s, tenant, message_id, failure)
            row = s.get(AgentConfigRow, tenant.id)
            config_from_row(row)  # validated (cached by content) before anything is stored
            document = document_of(row)
        return message.id, document

    def _seal(self, s: Session, tenant: TenantInfo, message_id: uuid.UUID, column: str,
              value: str | None) -> str | None:
        if column == "error" and value is not None:
            value = clip_utf8(value, MAX_ERROR_BYTES)
        return self.protection.seal(s, tenant.id, message_id, column, value)

    def _open(self, s: Session, tenant: TenantInfo, message_id: uuid.UUID, column: str,
              value: str | None) -> str | None:
        return self.protection.open(s, tenant.id, message_id, column, value)

    def _set(self, tenant: TenantInfo, message_id: uuid.UUID, **values: Any) -> None:
        with self.db.tenant(tenant.id) as s:
            row = s.get(AgentMessage, message_id, with_for_update=True)
            if row is None:
                raise NotFound("unknown message")
            for k, v in values.items():
                setattr(row, k, v)
            if values.get("status") == "delivering":
                row.attempts += 1

    def _fail(self, tenant: TenantInfo, message_id: uuid.UUID, reason: str) -> DeliveryFailed:
        with self.db.tenant(tenant.id) as s:
            row = s.get(AgentMessage, message_id, with_for_update=True)
            if row is not None:
                row.status = "failed"
                row.error = self._seal(s, tenant, message_id, "error", reason)
            self._audit_failure(s, tenant, message_id, reason)
        return self._failed(tenant, message_id, reason)

    def _audit_failure(self, s: Session, tenant: TenantInfo, message_id: uuid.UUID,
                       reason: str) -> None:
        self.audit.record(s, tenant.id, "system:gateway", "agent.message_failed",
                          {"message_id": str(message_id), "reason": reason[:200]})

    @staticmethod
    def _failed(tenant: TenantInfo, message_id: uuid.UUID, reason: str) -> DeliveryFailed:
        log.warning("message_failed", tenant=tenant.name, message_id=str(message_id),
                    reason=reason)
        telemetry.message_ended("failed")
        return DeliveryFailed(f"message {message_id} failed: {reason}")

    def call_agent(self, tenant: TenantInfo, message_id: uuid.UUID, path: str,
                   body: dict[str, Any], *, running_checked: bool = False) -> dict[str, Any]:
        """POST to the tenant's agent, waiting out a restart within the redelivery window.

        ``running_checked``: the caller read the desired state a moment ago (``send``), so
        the first attempt does not read it again; before any wait it is read afresh."""
        if not running_checked and not self.locator.expected(tenant.id):
            # Stopped on purpose: nothing will bring it back within the window, so the
            # message fails now instead of holding a worker for a minute.
            raise self._fail(tenant, message_id, _not_running(tenant))
        if isinstance(body.get("config"), dict):
            # The rails the gateway runs are taken out of the agent's copy of the policy.
            document = body["config"]
            policy = parse_config_cached(document).governance_policy()
            body = {**body, "config": {**document, "policy": agent_policy(
                policy, dict(document.get("policy") or {}))}}
        deadline = time.monotonic() + self.options.redeliver_window_s
        last = "the agent is not running"
        first = True
        while True:
            endpoint = self.locator.locate(tenant.name)
            if endpoint is not None:
                if not first:  # the first attempt was counted when the message was read
                    self._set(tenant, message_id, status="delivering")
                first = False
                try:
                    return self.transport.post(endpoint, path, body,
                                               self.options.agent_timeout_s)
                except Unreachable as exc:
                    last = f"the agent is unreachable ({exc})"
                    self.locator.forget(tenant.name)
                except Rejected as exc:
                    raise self._fail(tenant, message_id, f"agent error: {exc}") from None
            if time.monotonic() >= deadline:
                raise self._fail(tenant, message_id, last)
            if running_checked:
                running_checked = False
                if not self.locator.expected(tenant.id):
                    # Stopped since the caller looked: fail now rather than wait the window.
                    raise self._fail(tenant, message_id, _not_running(tenant))
            self.sleep(self.options.poll_s)

    def deliver(self, tenant: TenantInfo, message_id: uuid.UUID, *,
                skill: str | None = None) -> MessageResult:
        with self.db.tenant(tenant.id) as s:
            row = s.get(AgentMessage, message_id, with_for_update=True)
            if row is None:
                raise NotFound("unknown message")
            row.status, row.attempts = "delivering", row.attempts + 1
            channel, user = row.channel, row.channel_user
            text = self._open(s, tenant, message_id, "text", row.text) or ""
            config_row = s.get(AgentConfigRow, tenant.id)
            config_from_row(config_row)
            document = document_of(config_row)
        return self._deliver(tenant, message_id, channel, user, text, document, skill)

    def _deliver(self, tenant: TenantInfo, message_id: uuid.UUID, channel: str, user: str,
                 text: str, document: dict[str, Any], skill: str | None, *,
                 running_checked: bool = False) -> MessageResult:
        with self._active_lock:
            if message_id in self._active:
                raise Busy("this message is already being delivered")
            self._active.add(message_id)
        try:
            return self._turn(tenant, message_id, channel, user, text, document, skill,
                              running_checked)
        finally:
            with self._active_lock:
                self._active.discard(message_id)

    def _turn(self, tenant: TenantInfo, message_id: uuid.UUID, channel: str, user: str,
              text: str, document: dict[str, Any], skill: str | None,
              running_checked: bool = False) -> MessageResult:
        config = parse_config_cached(document)
        policy = config.governance_policy()
        before: list[dict[str, Any]] = []
        if self.rails.runs(policy, Stage.INPUT):
            checked = self._gateway_check(policy, Stage.INPUT, text, message_id,
                                          instructions=config.system_prompt)
            before = checked[1]
            if checked[0] is not None:
                # Refused before delivery: the agent (and the model) never see the message.
                return self.apply_outcome(tenant, message_id, {
                    "status": "refused", "reply": checked[0], "audit": before},
                    policy=policy)
            text = checked[2]
        body: dict[str, Any] = {"message_id": str(message_id), "channel": channel,
                                "user": user, "text": text,
                                "config": document}
        if skill:
            body["skill"] = skill
        outcome = self.call_agent(tenant, message_id, "/v1/messages", body,
                                  running_checked=running_checked)
        return self.apply_outcome(tenant, message_id, outcome, policy=policy, before=before)

    def _gateway_check(self, policy: Policy, stage: Stage, text: str, message_id: uuid.UUID,
                       instructions: str | None = None,
                       ) -> tuple[str | None, list[dict[str, Any]], str]:
        """(refusal or None, audit records, text to carry on with) of the gateway's rails;
        ``instructions``: the tenant's system prompt, read with the message."""
        try:
            checked = self.rails.check(policy, stage, text, str(message_id), instructions)
        except Exception as exc:  # the engine itself failed: block, never pass
            log.error("gateway_rails_failed", stage=str(stage), error=type(exc).__name__)
            return (policy.refusals.for_reason("governance_failure"),
                    [{"stage": str(stage), "rail": "engine", "action": "reject",
                      "reason": "governance_failure", "detail": WHERE,
                      "policy_version": policy.version}], text)
        refusal = None if checked.allowed else checked.result.text
        return refusal, checked.records, checked.result.text

    def apply_outcome(self, tenant: TenantInfo, message_id: uuid.UUID,
                      outcome: dict[str, Any],
                      on_session: Callable[[Session], None] | None = None, *,
                      policy: Policy | None = None,
                      before: list[dict[str, Any]] | None = None) -> MessageResult:
        status = str(outcome.get("status", ""))
        reply = outcome.get("reply")
        if status not in ("answered", "refused", "awaiting_approval", "model_error") or \
                not isinstance(reply, str):
            raise self._fail(tenant, message_id, "the agent sent a malformed outcome")
        records = outcome.get("audit")
        if not isinstance(records, list) or not records:
            # Every turn passes at least the input rails; an answer without decisions was not
            # governed (a broken or tampered agent) and is not delivered.
            raise self._fail(tenant, message_id, "the agent sent no governance decisions")
        records = [*(before or []), *records]
        if status == "answered":
            # The gateway's output rails, after the agent's: a reply the container let through
            # is still checked here before it is stored or shown.
            if policy is None:
                policy = self.settings.get(tenant.id).governance_policy()
            if self.rails.runs(policy, Stage.OUTPUT):
                refusal, after, reply = self._gateway_check(policy, Stage.OUTPUT, reply,
                                                            message_id)
                records += after
                if refusal is not None:
                    status, reply = "refused", refusal
        approval = outcome.get("approval") if status == "awaiting_approval" else None
        try:
            with self.db.tenant(tenant.id) as s:
                actor = f"agent:{tenant.name}"
                row = s.get(AgentMessage, message_id, with_for_update=True)
                if row is None:
                    raise NotFound("unknown message")
                row.reply = self._seal(s, tenant, message_id, "reply", reply)
                row.status = {"awaiting_approval": "awaiting_approval",
                              "model_error": "failed"}.get(status, "answered")
                # The reply of a failed turn has passed the agent's output rails; the raw
                # ``error`` field is not trusted to have, so it is never stored or shown.
                row.error = self._seal(s, tenant, message_id, "error", reply) \
                    if status == "model_error" else None
                if isinstance(approval, dict):
                    self.approvals.add(s, tenant, message_id, approval)
                if on_session is not None:
                    on_session(s)
                details = audit_details(records)
                details.update(message_id=str(message_id), outcome=status,
                               channel=row.channel)
                self.audit.record(s, tenant.id, actor, "governance.turn", details)
        except OspError:
            raise
        except Exception as exc:
            # The decisions could not be recorded: the reply is withheld (fail closed).
            raise self._fail(tenant, message_id,
                             f"could not record the decisions ({type(exc).__name__})") from None
        # Counted once the turn is on record (a turn that could not be recorded failed).
        telemetry.message_ended("failed" if status == "model_error" else status)
        for rec in records:
            if isinstance(rec, dict):
                telemetry.rail_decided(rec.get("rail"), rec.get("action"),
                                       rec.get("latency_ms"))
        if status == "model_error":
            raise ModelFailed(reply)
        result = MessageResult(message_id, status, reply, approval)
        for key in ("model_ms", "agent_ms"):
            if isinstance(value := outcome.get(key), int | float):
                setattr(result, key, float(value))
        return result

    def get(self, tenant: TenantInfo, message_id: uuid.UUID,
            sender: tuple[str, str] | None = None) -> MessageResult:
        """A message by id; with ``sender`` (channel, user) only if that person sent it. Any
        other message looks like it does not exist."""
        with self.db.tenant(tenant.id) as s:
            row = s.get(AgentMessage, message_id)
            if row is None or (sender is not None
                               and (row.channel, row.channel_user) != sender):
                raise NotFound("unknown message")
            return MessageResult(row.id, row.status,
                                 self._open(s, tenant, row.id, "reply", row.reply), None,
                                 self._open(s, tenant, row.id, "error", row.error))

    def history(self, tenant: TenantInfo, sender: tuple[str, str],
                limit: int = 30) -> list[PastMessage]:
        """One person's own past messages (channel, user), newest first, opened from their
        sealed form. Nobody's history includes another person's messages."""
        with self.db.tenant(tenant.id) as s:
            rows = s.execute(select(AgentMessage).where(
                AgentMessage.channel == sender[0], AgentMessage.channel_user == sender[1])
                .order_by(AgentMessage.created_at.desc()).limit(max(1, min(limit, 200)))
            ).scalars()
            return [PastMessage(r.id, r.created_at, r.status,
                                self._open(s, tenant, r.id, "text", r.text) or "",
                                self._open(s, tenant, r.id, "reply", r.reply),
                                self._open(s, tenant, r.id, "error", r.error)) for r in rows]

    def recent(self, tenant: TenantInfo, sender: tuple[str, str] | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
        """The newest messages (id, status, time; no text), only ``sender``'s when given.

        Chat answers within one request; a client whose request died with the control
        plane never got its message id. This list is where it finds the message again and
        sees how it ended (answered, refused or failed, never silently gone)."""
        query = select(AgentMessage.id, AgentMessage.status, AgentMessage.channel,
                       AgentMessage.created_at, AgentMessage.updated_at)
        if sender is not None:
            query = query.where(AgentMessage.channel == sender[0],
                                AgentMessage.channel_user == sender[1])
        query = query.order_by(AgentMessage.created_at.desc()).limit(limit)
        with self.db.tenant(tenant.id) as s:
            return [{"message_id": str(r.id), "status": r.status, "channel": r.channel,
                     "created_at": r.created_at.isoformat(),
                     "updated_at": r.updated_at.isoformat()} for r in s.execute(query)]

    def recover(self, tenant: TenantInfo, stale_s: float | None = None) -> list[uuid.UUID]:
        """Messages left queued or mid-delivery: deliver them again; each ends answered or
        visibly failed.

        At start-up (``stale_s`` None) that is every such message: a crash of the control
        plane left them. While serving (the recovery job), only those no turn of this
        process is working on and untouched for ``stale_s`` seconds: a reply that arrived
        while the database was down could not be recorded (nor could the failure), and the
        row would otherwise stay "delivering" until the next restart."""
        query = select(AgentMessage.id).where(
            AgentMessage.status.in_(("queued", "delivering")))
        if stale_s is not None:
            cutoff = datetime.now(UTC) - timedelta(seconds=stale_s)
            query = query.where(AgentMessage.updated_at < cutoff)
        with self.db.tenant(tenant.id) as s:
            ids = [i for i in s.execute(query).scalars() if not self._is_active(i)]
        for message_id in ids:
            # A failure is already recorded on the row, with its reason; a tenant at its
            # turn cap (Busy) is tried again next round.
            with contextlib.suppress(OspError):
                self.limits.run_sync(tenant.id, functools.partial(self.deliver, tenant,
                                                                  message_id))
        return ids

    def _is_active(self, message_id: uuid.UUID) -> bool:
        with self._active_lock:
            return message_id in self._active

    def agent_post(self, tenant: TenantInfo, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A management call to the agent (knowledge, skills); no message is involved."""
        endpoint = self.locator.locate(tenant.name)
        if endpoint is None:
            raise DeliveryFailed(f"the agent of {tenant.name!r} is not running: "
                                 f"`osp tenant start {tenant.name}`")
        try:
            return self.transport.post(endpoint, path, body, 60.0)
        except Unreachable as exc:
            self.locator.forget(tenant.name)
            raise DeliveryFailed(f"the agent of {tenant.name!r} is unreachable ({exc})") \
                from None
        except Rejected as exc:
            raise InvalidInput(str(exc)) from None
