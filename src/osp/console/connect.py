"""Starting a connected app from the console, through the one OAuth broker.

The flow is bound to the browser that starts it (RFC 6749 §10.12): the broker issues a
binding secret, kept in an HttpOnly cookie scoped to the provider's redirect path, and the
callback completes only with that cookie. The console never redirects a form post to the
provider (its CSP allows forms to post only to the console): it shows the authorization
link, and following it is an ordinary navigation. ``/console/oauth/callback`` is a redirect
URI an operator may register for a provider (the API's ``/api/v1/oauth/callback`` works as
well); the state in the URL authenticates it, as on the API.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, Response

from osp.console.auth import viewer
from osp.console.render import page
from osp.console.services import ConsoleServices
from osp.errors import NotFound, OspError
from osp.oauth.api import BINDING_COOKIE
from osp.oauth.service import OAuthBroker
from osp.web.app import http_status

Csrf = Annotated[str, Form(max_length=200)]


def build_connect_router(services: ConsoleServices) -> APIRouter:
    router = APIRouter()
    platform = services.platform

    def broker_or_404() -> OAuthBroker:
        if services.broker is None:
            raise NotFound("connected apps are not available here")
        return services.broker

    @router.post("/t/{tenant}/connections/start")
    def start(tenant: str, request: Request, csrf: Csrf = "",
              provider: Annotated[str, Form(max_length=64)] = "",
              scopes: Annotated[str, Form(max_length=1000)] = "") -> Response:
        # As POST /oauth/connect: connecting an app stores credentials for the tenant.
        v = viewer(platform, request, tenant, "secrets:write", csrf=csrf)
        assert v.tenant is not None
        broker = broker_or_404()
        info = next((p for p in broker.list_providers(v.tenant.id) if p.name == provider),
                    None)
        if info is None:
            raise NotFound(f"no provider {provider[:64]!r} is registered for this tenant")
        try:
            begun = broker.start(v.tenant.id, info.name, actor=v.actor,
                                 user_id=v.principal.user_id, scopes=scopes.split() or None,
                                 bind_browser=True)
        except OspError as exc:
            return page(request, "error.html", http_status(exc), viewer=v, title="Connect",
                        message=exc.message)
        response = page(request, "connect_continue.html", viewer=v, tenant=v.tenant,
                        provider=info.name, url=begun.authorization_url,
                        expires=begun.expires_at)
        if begun.binding:
            # Lax, not Strict: the callback is a top-level navigation from the provider.
            response.set_cookie(BINDING_COOKIE, begun.binding, max_age=600, httponly=True,
                                secure=platform.settings.cookie_secure, samesite="lax",
                                path=urlsplit(info.redirect_uri).path)
        return response

    @router.get("/oauth/callback")
    def callback(request: Request) -> Response:
        broker = broker_or_404()
        binding = request.cookies.get(BINDING_COOKIE)
        # The URL the provider sent the browser to, as it arrived (the broker compares it
        # with the registered redirect URI).
        url = str(request.url)
        try:
            info = broker.complete(url, binding=binding)
            status, message = 200, None
        except OspError as exc:
            info, status, message = None, http_status(exc), exc.message
        response = page(request, "connect_done.html", status, connection=info,
                        message=message)
        response.delete_cookie(BINDING_COOKIE, path=request.url.path)
        return response

    return router
