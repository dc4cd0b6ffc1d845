"""Tenant pages for daily use: overview (agent state, start/stop), chat with the rails'
decisions per message, the approvals queue and the audit trail with its integrity status.

Each route: who (``viewer``: session, CSRF on POST, the path's tenant, the API's scope for
the same act), then one service call, then a template. No rule is decided here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from osp.approvals.service import parse_id
from osp.audit.anchor import AnchorFile, check_anchor
from osp.console.auth import Viewer, viewer
from osp.console.render import page, redirect
from osp.console.services import ConsoleServices
from osp.errors import NotFound, OspError
from osp.gateway.service import MAX_TEXT
from osp.tenancy.service import TenantInfo
from osp.web.app import http_status

Csrf = Annotated[str, Form(max_length=200)]
PAGE_SIZE = 50


def _since(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def age(iso: str) -> str:
    seconds = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"


def build_pages_router(services: ConsoleServices) -> APIRouter:
    router = APIRouter(prefix="/t/{tenant}")
    platform, gateway, approvals = services.platform, services.gateway, services.approvals

    def tenant_of_viewer(v: Viewer) -> TenantInfo:
        assert v.tenant is not None  # every route here names its tenant
        return v.tenant

    # -- overview ---------------------------------------------------------------------------
    @router.get("/overview")
    def overview(tenant: str, request: Request) -> Response:
        v = viewer(platform, request, tenant, "tenant:read")
        info = tenant_of_viewer(v)
        status: dict[str, Any] | None = None
        status_error = None
        if services.runtime is None:
            status_error = "no container engine is configured for this control plane"
        else:
            try:
                status = services.runtime.status(info).as_dict()
            except OspError as exc:
                status_error = exc.message
        secret_names: list[str] | None = None
        if v.can("secrets:read"):
            with platform.db.tenant(info.id) as s:
                secret_names = [i.name for i in platform.vault.list(s, info.id)]
        config = gateway.settings.get(info.id)
        return page(request, "overview.html", viewer=v, tenant=info, status=status,
                    status_error=status_error, secret_names=secret_names,
                    policy_digest=config.digest()[:12],
                    model=config.model.model or "(not set)")

    @router.post("/runtime/{action}")
    def runtime_action(tenant: str, action: str, request: Request, csrf: Csrf = "") -> Response:
        v = viewer(platform, request, tenant, "tenant:write", csrf=csrf)
        info = tenant_of_viewer(v)
        runtime = services.runtime
        if runtime is None:
            raise NotFound("no container engine is configured for this control plane")
        if action == "start":
            runtime.start(info, v.actor, operator=False, wait=False)
        elif action == "restart":
            runtime.restart(info, v.actor, operator=False, wait=False)
        elif action == "stop":
            runtime.stop(info, v.actor)
        else:
            raise NotFound(f"unknown action {action[:20]!r}")
        return redirect(f"/t/{info.name}/overview")

    # -- chat -------------------------------------------------------------------------------
    def turn_decisions(info: TenantInfo, message_id: uuid.UUID) -> dict[str, Any] | None:
        with platform.db.tenant(info.id) as s:
            events = platform.audit.find(s, info.id, kind="governance.turn",
                                         details={"message_id": str(message_id)}, limit=1)
            return dict(events[0].details) if events else None

    @router.get("/chat")
    def chat_page(tenant: str, request: Request) -> Response:
        v = viewer(platform, request, tenant, "chat")
        info = tenant_of_viewer(v)
        # Only this person's own messages, whatever their role (as GET .../messages/{id}).
        past = gateway.history(info, ("api", v.principal.chat_user))
        return page(request, "chat.html", viewer=v, tenant=info, turn=None,
                    max_text=MAX_TEXT, history=past)

    @router.post("/chat")
    def chat(tenant: str, request: Request, csrf: Csrf = "",
             text: Annotated[str, Form(max_length=MAX_TEXT)] = "") -> Response:
        v = viewer(platform, request, tenant, "chat", csrf=csrf)
        info = tenant_of_viewer(v)
        turn: dict[str, Any] = {"text": text, "reply": None, "error": None, "status": None,
                                "approval": None, "turn": None}
        try:
            # As the API does: each person has their own conversation with the agent, and
            # turns are admitted by the gateway's per-tenant limit.
            result = gateway.limits.run_sync(info.id, lambda: gateway.send(
                info, "api", v.principal.chat_user, text))
        except OspError as exc:
            turn["error"] = exc.message
        else:
            turn.update(reply=result.reply, status=result.status, approval=result.approval,
                        turn=turn_decisions(info, result.message_id))
        partial = bool(request.headers.get("hx-request"))
        return page(request, "chat_turn.html" if partial else "chat.html", viewer=v,
                    tenant=info, turn=turn, max_text=MAX_TEXT, oob=partial, history=[])

    # -- approvals --------------------------------------------------------------------------
    def approvals_page(request: Request, v: Viewer, status: int = 200, **extra: Any) -> Response:
        info = tenant_of_viewer(v)
        # As the API: a member sees only the calls paused while answering them.
        p = v.principal
        sender = None if p.sees_all_users else ("api", p.chat_user)
        pending = approvals.list(info, "pending", sender)
        decided = [a for a in approvals.list(info, None, sender) if a.status != "pending"][-20:]
        return page(request, "approvals.html", status, viewer=v, tenant=info, pending=pending,
                    decided=list(reversed(decided)), now=datetime.now(UTC), **extra)

    @router.get("/approvals")
    def approvals_list(tenant: str, request: Request) -> Response:
        return approvals_page(request, viewer(platform, request, tenant, "tenant:read"))

    @router.post("/approvals/{approval_id}/{decision}")
    def decide(tenant: str, approval_id: str, decision: str, request: Request,
               csrf: Csrf = "") -> Response:
        # Deciding is a privileged act (it lets the agent act): the API's scope for it.
        v = viewer(platform, request, tenant, "approvals:write", csrf=csrf)
        if decision not in ("approve", "deny"):
            raise NotFound(f"unknown decision {decision[:20]!r}: approve or deny")
        info = tenant_of_viewer(v)
        try:
            # The agent resumes the turn: the same per-tenant cap as a chat message.
            result = approvals.gateway.limits.run_sync(info.id, lambda: approvals.decide(
                info, parse_id(approval_id), decision == "approve", v.actor))
        except OspError as exc:
            return approvals_page(request, v, http_status(exc), error=exc.message)
        return approvals_page(request, v, outcome={"decision": decision,
                                                   "status": result.status,
                                                   "reply": result.reply})

    # -- audit ------------------------------------------------------------------------------
    @router.get("/audit")
    def audit(tenant: str, request: Request, kind: str = "", actor: str = "",
              before: int | None = None, since: str = "") -> Response:
        v = viewer(platform, request, tenant, "audit:read")
        info = tenant_of_viewer(v)
        anchor = AnchorFile(platform.settings.anchor_path).read().get(str(info.id))
        with platform.db.tenant(info.id) as s:
            events = platform.audit.find(s, info.id, kind=kind[:100] or None,
                                         actor=actor[:200] or None, before_seq=before,
                                         since=_since(since), limit=PAGE_SIZE)
            # The prefix verified on an earlier view is fingerprinted, not re-hashed.
            verified = platform.chains.verify(s, info.id)
            anchor_problems = check_anchor(s, info.id, anchor)
        chain = {"checked": verified.checked, "broken_at": verified.broken_at,
                 "problems": verified.problems + anchor_problems,
                 "anchor_seq": anchor.seq if anchor else None,
                 "anchor_age": age(anchor.anchored_at) if anchor else None}
        older = events[-1].seq if len(events) == PAGE_SIZE else None
        return page(request, "audit.html", viewer=v, tenant=info, events=events, chain=chain,
                    filters={"kind": kind, "actor": actor, "since": since}, older=older)

    return router
