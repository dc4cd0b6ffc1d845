"""Tenant administration pages: the agent's policy document (validated, diffed before it is
saved, audited by the settings service), secrets (names only; values write-only), API
tokens (shown once), users and connected apps. Scopes are the API's for the same act."""

from __future__ import annotations

import difflib
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from osp.agent.config import ConfigError, parse_config
from osp.console.auth import Viewer, viewer
from osp.console.render import page, redirect
from osp.console.services import ConsoleServices
from osp.errors import InvalidInput, NotFound, OspError
from osp.identity.scopes import ALL_SCOPES
from osp.identity.service import check_assignable
from osp.tenancy.service import TenantInfo
from osp.vault.service import MAX_VALUE_BYTES
from osp.web.app import http_status

Csrf = Annotated[str, Form(max_length=200)]
Short = Annotated[str, Form(max_length=254)]
MAX_DOCUMENT = 256 * 1024


def _pretty(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def _parse_document(raw: str) -> dict[str, Any]:
    """The submitted JSON, validated exactly as the settings service will validate it."""
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput("the document must be a JSON object")
    document.pop("model", None)  # the model is set separately (it receives the API key)
    try:
        parse_config(document)
    except ConfigError as exc:
        raise InvalidInput(str(exc).replace("\n", "; ")) from None
    return document


def build_manage_router(services: ConsoleServices) -> APIRouter:
    router = APIRouter(prefix="/t/{tenant}")
    platform, settings = services.platform, services.gateway.settings

    def info_of(v: Viewer) -> TenantInfo:
        assert v.tenant is not None
        return v.tenant

    # -- policy -----------------------------------------------------------------------------
    def current_document(info: TenantInfo) -> dict[str, Any]:
        return {k: v for k, v in settings.document(info.id).items() if k != "model"}

    @router.get("/policy")
    def policy(tenant: str, request: Request) -> Response:
        v = viewer(platform, request, tenant, "tenant:read")
        info = info_of(v)
        text = _pretty(current_document(info))
        return page(request, "policy.html", viewer=v, tenant=info, text=text, diff=None,
                    error=None, digest=settings.get(info.id).digest()[:12])

    def may_edit(v: Viewer) -> None:
        # As PUT /agent/config: the document names hosts that receive the tenant's bot
        # tokens, so changing it needs the secrets right as well.
        v.principal.require("tenant:write")
        v.principal.require("secrets:write")

    @router.post("/policy/preview")
    def policy_preview(tenant: str, request: Request, csrf: Csrf = "",
                       document: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "") -> Response:
        v = viewer(platform, request, tenant, None, csrf=csrf)
        may_edit(v)
        info = info_of(v)
        digest = settings.get(info.id).digest()[:12]
        try:
            proposed = _pretty(_parse_document(document))
        except InvalidInput as exc:
            return page(request, "policy.html", 422, viewer=v, tenant=info, text=document,
                        diff=None, error=exc.message, digest=digest)
        current = _pretty(current_document(info))
        diff = list(difflib.unified_diff(current.splitlines(), proposed.splitlines(),
                                         "current", "proposed", lineterm="", n=3))
        return page(request, "policy.html", viewer=v, tenant=info, text=proposed, diff=diff,
                    error=None, digest=digest)

    @router.post("/policy")
    def policy_save(tenant: str, request: Request, csrf: Csrf = "",
                    document: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "") -> Response:
        v = viewer(platform, request, tenant, None, csrf=csrf)
        may_edit(v)
        info = info_of(v)
        settings.set_document(info.id, _parse_document(document), v.actor)  # audited there
        return redirect(f"/t/{info.name}/policy")

    # -- secrets ----------------------------------------------------------------------------
    def secrets_page(request: Request, v: Viewer, status: int = 200, **extra: Any) -> Response:
        info = info_of(v)
        with platform.db.tenant(info.id) as s:
            rows = platform.vault.list(s, info.id)
        extra.setdefault("error", None)
        return page(request, "secrets.html", status, viewer=v, tenant=info, secrets=rows,
                    **extra)

    @router.get("/secrets")
    def secrets(tenant: str, request: Request) -> Response:
        return secrets_page(request, viewer(platform, request, tenant, "secrets:read"))

    @router.post("/secrets")
    def secret_set(tenant: str, request: Request, csrf: Csrf = "", name: Short = "",
                   value: Annotated[str, Form(max_length=MAX_VALUE_BYTES)] = "") -> Response:
        v = viewer(platform, request, tenant, "secrets:write", csrf=csrf)
        info = info_of(v)
        try:
            with platform.db.tenant(info.id) as s:
                platform.vault.put(s, info.id, name, value.encode(), v.actor)
        except OspError as exc:
            # The value is never sent back, not even into the form it came from.
            return secrets_page(request, v, http_status(exc), error=exc.message)
        return redirect(f"/t/{info.name}/secrets")

    @router.post("/secrets/{name}/delete")
    def secret_delete(tenant: str, name: str, request: Request, csrf: Csrf = "") -> Response:
        v = viewer(platform, request, tenant, "secrets:write", csrf=csrf)
        info = info_of(v)
        with platform.db.tenant(info.id) as s:
            platform.vault.delete(s, info.id, name, v.actor)
        return redirect(f"/t/{info.name}/secrets")

    # -- API tokens -------------------------------------------------------------------------
    def tokens_page(request: Request, v: Viewer, status: int = 200, **extra: Any) -> Response:
        info = info_of(v)
        extra.setdefault("error", None)
        extra.setdefault("created", None)
        return page(request, "tokens.html", status, viewer=v, tenant=info,
                    tokens=platform.identity.list_tokens(info.id),
                    scopes=[s for s in ALL_SCOPES if v.can(s)], **extra)

    @router.get("/tokens")
    def tokens(tenant: str, request: Request) -> Response:
        return tokens_page(request, viewer(platform, request, tenant, "tokens:write"))

    @router.post("/tokens")
    def token_create(tenant: str, request: Request, csrf: Csrf = "", name: Short = "",
                     scopes: Annotated[list[str] | None, Form()] = None,
                     expires_days: Annotated[str, Form(max_length=10)] = "") -> Response:
        v = viewer(platform, request, tenant, "tokens:write", csrf=csrf)
        try:
            days = int(expires_days) if expires_days.strip() else None
        except ValueError:
            return tokens_page(request, v, 422, error="expiry must be a number of days")
        try:
            # The service refuses scopes beyond the creator's role.
            token_id, token = platform.identity.create_token(v.principal, name, scopes or [],
                                                             days)
        except OspError as exc:
            return tokens_page(request, v, http_status(exc), error=exc.message)
        # The value appears on this one response only (no-store) and nowhere after.
        return tokens_page(request, v, created={"id": token_id, "name": name, "token": token})

    @router.post("/tokens/{token_id}/revoke")
    def token_revoke(tenant: str, token_id: str, request: Request, csrf: Csrf = "") -> Response:
        v = viewer(platform, request, tenant, "tokens:write", csrf=csrf)
        try:
            parsed = uuid.UUID(token_id)
        except ValueError:
            raise NotFound("no such token") from None
        platform.identity.revoke_token(v.principal, parsed)
        return redirect(f"/t/{info_of(v).name}/tokens")

    # -- users ------------------------------------------------------------------------------
    def users_page(request: Request, v: Viewer, status: int = 200, **extra: Any) -> Response:
        info = info_of(v)
        extra.setdefault("error", None)
        return page(request, "users.html", status, viewer=v, tenant=info,
                    users=platform.identity.list_users(info.id), **extra)

    @router.get("/users")
    def users(tenant: str, request: Request) -> Response:
        return users_page(request, viewer(platform, request, tenant, "users:read"))

    @router.post("/users")
    def user_create(tenant: str, request: Request, csrf: Csrf = "", email: Short = "",
                    password: Annotated[str, Form(max_length=1024)] = "",
                    role: Short = "member") -> Response:
        v = viewer(platform, request, tenant, "users:write", csrf=csrf)
        info = info_of(v)
        try:
            check_assignable(v.principal, role)
            platform.identity.create_user(info, email, password, role, v.actor)
        except OspError as exc:
            return users_page(request, v, http_status(exc), error=exc.message)
        return redirect(f"/t/{info.name}/users")

    # -- connected apps ---------------------------------------------------------------------
    @router.get("/connections")
    def connections(tenant: str, request: Request) -> Response:
        v = viewer(platform, request, tenant, "secrets:read")
        rows = services.broker.list_connections(info_of(v).id) if services.broker else []
        return page(request, "connections.html", viewer=v, tenant=info_of(v), connections=rows)

    @router.post("/connections/{provider}/revoke")
    def connection_revoke(tenant: str, provider: str, request: Request,
                          csrf: Csrf = "") -> Response:
        v = viewer(platform, request, tenant, "secrets:write", csrf=csrf)
        if services.broker is None:
            raise NotFound("connected apps are not available here")
        services.broker.revoke(info_of(v).id, provider, v.actor)
        return redirect(f"/t/{info_of(v).name}/connections")

    return router
