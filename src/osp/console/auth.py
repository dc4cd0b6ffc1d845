"""Who is looking at a console page: the session cookie the API uses, the same
:class:`~osp.identity.service.Principal`, scopes and tenant rule (``tenant_of``).

A state-changing console request must carry the session's CSRF token in the form field
``csrf`` (htmx sends the same field); the check is the API's (``csrf_ok``). API tokens are
not accepted here: the console is for people with a browser session.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from osp.errors import Forbidden, OspError, Unauthorized
from osp.identity.service import Principal
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from osp.web.deps import CSRF_COOKIE, SESSION_COOKIE, csrf_ok, tenant_of


class SignInNeeded(OspError):
    """No usable session: the browser is sent to ``where`` (sign-in, second factor, enrol)."""

    def __init__(self, where: str, message: str = "") -> None:
        super().__init__(message or "sign in first")
        self.where = where


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    tenant: TenantInfo | None
    csrf: str  # the session's CSRF token (from its cookie), echoed in every form
    operator = False  # a tenant's person (templates: tenant navigation)

    def can(self, scope: str) -> bool:
        return scope in self.principal.scopes

    @property
    def actor(self) -> str:
        return self.principal.actor


def session_principal(platform: Platform, request: Request) -> Principal:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInNeeded("/login")
    try:
        return platform.identity.authenticate_session(token)
    except (Unauthorized, OspError):
        raise SignInNeeded("/login?expired=1") from None


def check_csrf(principal: Principal, sent: str) -> None:
    if not csrf_ok(principal, sent):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def viewer(platform: Platform, request: Request, tenant: str | None, scope: str | None, *,
           csrf: str | None = None, stages: tuple[str, ...] = ("full",)) -> Viewer:
    """The signed-in person, held to a stage, the path's tenant and a scope. ``csrf`` is
    the submitted token on a state-changing request (None on a GET)."""
    principal = session_principal(platform, request)
    if principal.stage not in stages:
        raise SignInNeeded("/login/second-factor" if principal.stage == "mfa" else "/enrol")
    if csrf is not None:
        check_csrf(principal, csrf)
    info = tenant_of(platform, principal, tenant) if tenant is not None else None
    if scope is not None:
        principal.require(scope)
    return Viewer(principal, info, request.cookies.get(CSRF_COOKIE, ""))
