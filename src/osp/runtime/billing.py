"""Subscription events from the billing provider: ``POST /api/v1/billing/events``.

Wire format (NOTE: changing it breaks every configured provider):

* header ``X-OSP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``
* the MAC covers ``"<t>." + raw body`` with the shared key kept sealed in the vault
  (platform secret ``billing_webhook``; ``osp billing set-key`` stores it);
* body ``{"id": "evt_...", "type": "subscription.canceled", "tenant": "<name>"}``.

``subscription.canceled`` suspends exactly that tenant; ``subscription.reactivated``
resumes it. Unsigned, badly signed, stale (outside the tolerance) and replayed (same id)
events are refused and audited. The MAC is checked before anything in the body is trusted.
A refusal before a valid, fresh MAC proves no tenant: it goes to the platform trail
(``osp.audit.unproven``) with the tenant the body claimed as a detail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from osp.db.session import Database
from osp.errors import OspError
from osp.runtime.bootstrap import AuditSink
from osp.runtime.models import BillingEventRow
from osp.runtime.service import RuntimeService
from osp.runtime.store import PlatformSecrets
from osp.web.limits import BodyTooLarge, read_capped

SIGNATURE_HEADER = "x-osp-signature"
KEY_NAME = "billing_webhook"
MAX_BODY = 64 * 1024
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
ACTIONS = {"subscription.canceled": "suspend", "subscription.reactivated": "resume"}


def sign(key: bytes, body: bytes, timestamp: int) -> str:
    """The header value a provider sends (used by tests and by `osp billing` tooling)."""
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _parse_header(value: str) -> tuple[int, list[str]] | None:
    timestamp: int | None = None
    macs: list[str] = []
    for part in value.split(","):
        k, _, v = part.strip().partition("=")
        if k == "t" and v.isdigit():
            timestamp = int(v)
        elif k == "v1" and v:
            macs.append(v)
    if timestamp is None or not macs:
        return None
    return timestamp, macs


def _peek(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def build_billing_router(runtime: RuntimeService, secrets: PlatformSecrets, audit: AuditSink,
                         tolerance_s: int = 300,
                         clock: Callable[[], float] = time.time) -> APIRouter:
    router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

    def refuse(status: int, reason: str, claimed: dict[str, Any], *,
               signed: bool = False) -> JSONResponse:
        tenant = claimed.get("tenant") if isinstance(claimed.get("tenant"), str) else None
        event_id = claimed.get("id") if isinstance(claimed.get("id"), str) else None
        details: dict[str, object] = {"reason": reason, "event_id": (event_id or "")[:128]}
        if signed:
            audit(tenant, "billing.event_refused", details)
        else:
            # Unsigned or forged: it proves no tenant, so it goes to the platform trail.
            audit(None, "billing.event_refused", {**details, "claimed_tenant": (tenant or "")[:64]})
        return JSONResponse({"error": f"event refused: {reason}"}, status_code=status)

    @router.post("/events")
    async def events(request: Request) -> JSONResponse:
        try:
            # Read with this webhook's own cap while it streams, never whole and then measured.
            body: bytes | None = await read_capped(request, MAX_BODY)
        except BodyTooLarge:
            body = None
        header = request.headers.get(SIGNATURE_HEADER, "")
        # Database and engine calls block: keep them off the event loop.
        return await run_in_threadpool(handle, body, header)

    def handle(body: bytes | None, header: str) -> JSONResponse:
        if body is None:
            return refuse(413, "too_large", {})
        claimed = _peek(body)
        key = secrets.get(KEY_NAME)
        if key is None:
            # Fail closed: with no key configured nothing can be verified, so nothing applies.
            return refuse(503, "not_configured", claimed)
        parsed = _parse_header(header)
        if parsed is None:
            return refuse(401, "unsigned", claimed)
        timestamp, macs = parsed
        expected = sign(key, body, timestamp).split("v1=", 1)[1]
        if not any(hmac.compare_digest(expected, mac) for mac in macs):
            return refuse(401, "bad_signature", claimed)
        if abs(clock() - timestamp) > tolerance_s:
            # Signed, but anyone who captured it can replay it forever: not proof either.
            return refuse(401, "stale", claimed)
        event_id, kind, tenant = claimed.get("id"), claimed.get("type"), claimed.get("tenant")
        if not (isinstance(event_id, str) and EVENT_ID.fullmatch(event_id)
                and isinstance(kind, str) and len(kind) <= 64 and isinstance(tenant, str)):
            return refuse(422, "malformed", claimed, signed=True)
        try:
            info = runtime.tenants.get(tenant)
        except OspError:
            return refuse(404, "unknown_tenant", claimed, signed=True)
        with runtime.db.tenant(info.id) as s:
            seen = s.execute(select(BillingEventRow.event_id).where(
                BillingEventRow.event_id == event_id)).first()
        if seen is not None:
            return refuse(409, "replay", claimed, signed=True)
        action = ACTIONS.get(kind)
        actor = f"billing:{event_id}"
        # Act first, record after: if the engine fails the provider retries the same id,
        # and both actions are idempotent.
        if action == "suspend":
            runtime.suspend(info, actor, reason=kind)
        elif action == "resume":
            runtime.resume(info, actor, reason=kind, wait=False)
        try:
            with runtime.db.tenant(info.id) as s:
                s.add(BillingEventRow(tenant_id=info.id, event_id=event_id, kind=kind))
                s.flush()
                runtime.audit.record(s, info.id, actor, "billing.event",
                                     {"event_id": event_id, "type": kind,
                                      "applied": action or "ignored"})
        except IntegrityError:
            return refuse(409, "replay", claimed, signed=True)
        return JSONResponse({"status": "applied" if action else "ignored"})

    return router


def billing_states(db: Database) -> dict[uuid.UUID, str]:
    """Each tenant's last subscription event (``canceled``/``reactivated``), for the
    operator pages: one query in the platform scope, which may read billing events
    (migration 0008) but no other tenant data."""
    with db.platform() as s:
        rows = s.execute(text(
            "SELECT DISTINCT ON (tenant_id) tenant_id, kind FROM billing_events "
            "ORDER BY tenant_id, received_at DESC")).all()
    return {r.tenant_id: str(r.kind).removeprefix("subscription.") for r in rows}
