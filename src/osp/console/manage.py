"""Tenant administration pages: secrets (names only; values write-only), API tokens (shown
once), users and connected apps. Scopes are the API's for the same act. The policy editor
is :mod:`osp.console.policy`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from osp.console.auth import Viewer, viewer
from osp.console.render import page, redirect
from osp.console.services import ConsoleServices
from osp.errors import Conflict, Forbidden, InvalidInput, NotFound, OspError
from osp.identity.scopes import ALL_SCOPES
from osp.identity.service import check_assignable
from osp.tenancy.service import TenantInfo
from osp.vault.service import MAX_VALUE_BYTES
from osp.web.app import http_status

Csrf = Annotated[str, Form(max_length=200)]
Short = Annotated[str, Form(max_length=254)]


def build_manage_router(services: ConsoleServices) -> APIRouter:
    router = APIRouter(prefix="/t/{tenant}")
    platform = services.platform

    def info_of(v: Viewer) -> TenantInfo:
        assert v.tenant is not None
        return v.tenant

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

    def owner_only(v: Viewer) -> None:
        # Role changes and 2FA resets are an owner's (the CLI's operator can too): an admin
        # could otherwise strip an owner's second factor or promote themselves.
        v.principal.require("users:write")
        if v.principal.role != "owner":
            raise Forbidden("only an owner can change roles or reset two-factor")

    def email_of(info: TenantInfo, user_id: str) -> str:
        for u in platform.identity.list_users(info.id):
            if str(u.id) == user_id:
                return u.email
        raise NotFound("no such user")

    @router.post("/users/{user_id}/role")
    def user_role(tenant: str, user_id: str, request: Request, csrf: Csrf = "",
                  role: Short = "") -> Response:
        v = viewer(platform, request, tenant, None, csrf=csrf)
        owner_only(v)
        info = info_of(v)
        try:
            platform.user_admin.set_role(info, email_of(info, user_id), role, v.actor)
        except (InvalidInput, Conflict) as exc:
            return users_page(request, v, http_status(exc), error=exc.message)
        return redirect(f"/t/{info.name}/users")

    @router.post("/users/{user_id}/reset-2fa")
    def user_reset_2fa(tenant: str, user_id: str, request: Request,
                       csrf: Csrf = "") -> Response:
        v = viewer(platform, request, tenant, None, csrf=csrf)
        owner_only(v)
        info = info_of(v)
        # Ends that person's sessions too (the service does): whoever held the old
        # factor must not stay signed in with it.
        platform.user_admin.reset_2fa(info, email_of(info, user_id), v.actor)
        return redirect(f"/t/{info.name}/users")

    # -- connected apps ---------------------------------------------------------------------
    @router.get("/connections")
    def connections(tenant: str, request: Request) -> Response:
        v = viewer(platform, request, tenant, "secrets:read")
        broker = services.broker
        rows = broker.list_connections(info_of(v).id) if broker else []
        providers = broker.list_providers(info_of(v).id) if broker else []
        return page(request, "connections.html", viewer=v, tenant=info_of(v), connections=rows,
                    providers=providers)

    @router.post("/connections/{provider}/revoke")
    def connection_revoke(tenant: str, provider: str, request: Request,
                          csrf: Csrf = "") -> Response:
        v = viewer(platform, request, tenant, "secrets:write", csrf=csrf)
        if services.broker is None:
            raise NotFound("connected apps are not available here")
        services.broker.revoke(info_of(v).id, provider, v.actor)
        return redirect(f"/t/{info_of(v).name}/connections")

    return router
