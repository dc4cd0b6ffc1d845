"""The policy editor: the agent's configuration document as validated JSON and as a form
(both become the same document and pass the same check the settings service applies),
a diff against the current version before saving, and every saved version kept: listed
with author and time, compared with any other, restored (as a new version, audited).

Scopes are the API's: reading needs ``tenant:read``; changing needs ``tenant:write`` and
``secrets:write`` (as ``PUT /agent/config``: the document names hosts that receive the
tenant's bot tokens).
"""

from __future__ import annotations

import difflib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from osp.agent.config import ConfigError, parse_config
from osp.console.auth import Viewer, viewer
from osp.console.render import page, redirect
from osp.console.services import ConsoleServices
from osp.errors import InvalidInput
from osp.gateway.models import PolicyVersion
from osp.gateway.settings import MAX_NOTE
from osp.tenancy.service import TenantInfo

Csrf = Annotated[str, Form(max_length=200)]
Note = Annotated[str, Form(max_length=MAX_NOTE)]
Text = Annotated[str, Form(max_length=20_000)]
MAX_DOCUMENT = 256 * 1024
PRESETS = ("lean", "full")


def pretty(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def parse_document(raw: str) -> dict[str, Any]:
    """The submitted JSON, validated exactly as the settings service will validate it."""
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput("the document must be a JSON object")
    return checked(document)


def checked(document: dict[str, Any]) -> dict[str, Any]:
    document = {k: v for k, v in document.items() if k != "model"}  # set separately
    try:
        parse_config(document)
    except ConfigError as exc:
        raise InvalidInput(str(exc).replace("\n", "; ")) from None
    return document


def _names(raw: str) -> list[str]:
    return [n for n in (p.strip() for p in raw.replace("\n", ",").split(",")) if n]


def _number(raw: str, label: str, kind: type[int] | type[float]) -> int | float | None:
    if not raw.strip():
        return None
    try:
        return kind(raw.strip())
    except ValueError:
        word = "a whole number" if kind is int else "a number"
        raise InvalidInput(f"{label} must be {word}") from None


def from_form(current: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """The current document with the form's fields applied (parts the form does not show
    are kept as they are); validated like the JSON."""
    doc = json.loads(json.dumps(current))  # a deep copy
    policy = doc.setdefault("policy", {})
    if form["preset"] not in PRESETS:
        raise InvalidInput(f"preset must be one of {', '.join(PRESETS)}")
    policy["preset"] = form["preset"]
    if form["label"].strip():
        policy["version"] = form["label"].strip()
    tools = policy.setdefault("tools", {})
    tools["allowed"] = _names(form["allowed"])
    tools["approval_required"] = _names(form["approval"])
    doc.setdefault("tools", {}).setdefault("http_get", {})["allowed_domains"] = \
        _names(form["domains"])
    doc["system_prompt"] = form["prompt"]
    for key, label, kind in (("history_turns", "History turns", int),
                             ("approval_ttl_s", "Approval expiry (seconds)", int)):
        value = _number(form[key], label, kind)
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    injection = _number(form["injection"], "Injection threshold", float)
    if injection is not None:
        policy.setdefault("thresholds", {})["injection"] = injection
    return checked(doc)


def form_values(document: dict[str, Any]) -> dict[str, str]:
    """What the form shows for a document (defaults where the document is silent)."""
    config = parse_config(document)
    policy = config.governance_policy()
    return {"preset": policy.preset, "label": policy.version,
            "allowed": ", ".join(policy.tools.allowed),
            "approval": ", ".join(policy.tools.approval_required),
            "domains": ", ".join(config.tools.http_get.allowed_domains),
            "prompt": config.system_prompt, "history_turns": str(config.history_turns),
            "approval_ttl_s": str(config.approval_ttl_s),
            "injection": str(policy.thresholds.injection)}


def diff(a: str, b: str, a_name: str, b_name: str) -> list[str]:
    return list(difflib.unified_diff(a.splitlines(), b.splitlines(), a_name, b_name,
                                     lineterm="", n=3))


def build_policy_router(services: ConsoleServices) -> APIRouter:
    router = APIRouter(prefix="/t/{tenant}/policy")
    platform, settings = services.platform, services.gateway.settings

    def info_of(v: Viewer) -> TenantInfo:
        assert v.tenant is not None
        return v.tenant

    def current(info: TenantInfo) -> dict[str, Any]:
        return {k: v for k, v in settings.document(info.id).items() if k != "model"}

    def authors(info: TenantInfo) -> dict[str, str]:
        """Actor strings as people: ``session:<id>``/``token:<id>`` to their email."""
        out: dict[str, str] = {}
        for u in platform.identity.list_users(info.id):
            out[f"session:{u.id}"] = u.email
            out[f"token:{u.id}"] = f"{u.email} (API token)"
        return out

    def editor(request: Request, v: Viewer, status: int = 200, **extra: Any) -> Response:
        info = info_of(v)
        document = current(info)
        extra.setdefault("text", pretty(document))
        extra.setdefault("form", form_values(document))
        extra.setdefault("diff", None)
        extra.setdefault("error", None)
        extra.setdefault("note", "")
        extra.setdefault("mode", "json")
        return page(request, "policy.html", status, viewer=v, tenant=info,
                    digest=settings.get(info.id).digest()[:12],
                    versions=settings.versions(info.id), authors=authors(info), **extra)

    def may_edit(v: Viewer) -> None:
        v.principal.require("tenant:write")
        v.principal.require("secrets:write")

    def preview(request: Request, v: Viewer, proposed: dict[str, Any], note: str,
                mode: str) -> Response:
        text = pretty(proposed)
        changes = diff(pretty(current(info_of(v))), text, "current", "proposed")
        return editor(request, v, text=text, diff=changes, note=note, mode=mode)

    @router.get("")
    def policy(tenant: str, request: Request, mode: str = "json") -> Response:
        v = viewer(platform, request, tenant, "tenant:read")
        return editor(request, v, mode="form" if mode == "form" else "json")

    @router.post("/preview")
    def policy_preview(tenant: str, request: Request, csrf: Csrf = "", note: Note = "",
                       document: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "") -> Response:
        v = viewer(platform, request, tenant, None, csrf=csrf)
        may_edit(v)
        try:
            proposed = parse_document(document)
        except InvalidInput as exc:
            return editor(request, v, 422, text=document, error=exc.message, note=note)
        return preview(request, v, proposed, note, "json")

    @router.post("/form")
    def policy_form(tenant: str, request: Request, csrf: Csrf = "", note: Note = "",
                    preset: Annotated[str, Form(max_length=10)] = "lean",
                    label: Annotated[str, Form(max_length=200)] = "",
                    allowed: Text = "", approval: Text = "", domains: Text = "",
                    prompt: Text = "", history_turns: Annotated[str, Form(max_length=10)] = "",
                    approval_ttl_s: Annotated[str, Form(max_length=10)] = "",
                    injection: Annotated[str, Form(max_length=10)] = "") -> Response:
        v = viewer(platform, request, tenant, None, csrf=csrf)
        may_edit(v)
        form = {"preset": preset, "label": label, "allowed": allowed, "approval": approval,
                "domains": domains, "prompt": prompt, "history_turns": history_turns,
                "approval_ttl_s": approval_ttl_s, "injection": injection}
        try:
            proposed = from_form(current(info_of(v)), form)
        except InvalidInput as exc:
            return editor(request, v, 422, form=form, error=exc.message, note=note,
                          mode="form")
        return preview(request, v, proposed, note, "form")

    @router.post("")
    def policy_save(tenant: str, request: Request, csrf: Csrf = "", note: Note = "",
                    document: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "") -> Response:
        v = viewer(platform, request, tenant, None, csrf=csrf)
        may_edit(v)
        info = info_of(v)
        # Versioned and audited by the settings service.
        settings.set_document(info.id, parse_document(document), v.actor, note=note.strip())
        return redirect(f"/t/{info.name}/policy")

    @router.get("/versions")
    def versions_diff(tenant: str, request: Request, a: int = 0, b: int = 0) -> Response:
        """Version ``a`` against version ``b`` (default: the newest)."""
        v = viewer(platform, request, tenant, "tenant:read")
        info = info_of(v)
        newest = settings.versions(info.id, limit=1)
        if not newest:
            return editor(request, v, error="no saved versions yet")
        right: PolicyVersion = settings.version(info.id, b) if b else newest[0]
        left: PolicyVersion = settings.version(info.id, a) if a else right
        changes = diff(pretty(left.document), pretty(right.document),
                       f"version {left.version}", f"version {right.version}")
        return page(request, "policy_versions.html", viewer=v, tenant=info, left=left,
                    right=right, diff=changes, authors=authors(info),
                    left_text=pretty(left.document))

    @router.post("/versions/{version}/restore")
    def restore(tenant: str, version: int, request: Request, csrf: Csrf = "") -> Response:
        v = viewer(platform, request, tenant, None, csrf=csrf)
        may_edit(v)
        info = info_of(v)
        settings.restore(info.id, version, v.actor)  # a new version, audited
        return redirect(f"/t/{info.name}/policy")

    return router
