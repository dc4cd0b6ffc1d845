"""Sign-in (password, then TOTP or a recovery code), TOTP enrolment with a locally rendered
QR code, recovery codes shown once, sign-out. Every rule is the identity service's."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request, Response
from markupsafe import Markup

from osp.console.auth import SignInNeeded, check_csrf, session_principal, viewer
from osp.console.render import page, redirect
from osp.errors import Throttled, Unauthorized
from osp.identity.service import LoginResult
from osp.platform import Platform
from osp.web.deps import CSRF_COOKIE, SESSION_COOKIE, client_address

Field = Annotated[str, Form(max_length=1024)]
Csrf = Annotated[str, Form(max_length=200)]

NOTICES = {
    "expired": "Your session expired or was signed out. Sign in again.",
    "signed_out": "You are signed out.",
}


def set_session_cookies(response: Response, result: LoginResult, secure: bool) -> None:
    # The API's cookies, with the same flags: the session is HttpOnly; both are SameSite
    # Strict, so a cross-site request carries neither; Secure unless the operator turned
    # it off for plain-HTTP loopback (settings.cookie_secure).
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, secure=secure,
                        samesite="strict", path="/")
    response.set_cookie(CSRF_COOKIE, result.csrf, httponly=False, secure=secure,
                        samesite="strict", path="/")


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG QR code, drawn here (no image service sees the seed).
    segno's output is built from the URI's bits only: markup we produce, not tenant text."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff",
                                                title="TOTP enrolment QR code")
    return Markup(svg)  # noqa: S704 -- segno's SVG, no caller text in it


def build_signin_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    secure_cookies = platform.settings.cookie_secure

    def home_of(result: LoginResult) -> str:
        if result.stage == "mfa":
            return "/login/second-factor"
        if result.stage == "enrol":
            return "/enrol"
        return f"/t/{platform.tenants.get_by_id(result.tenant_id).name}/overview"

    @router.get("/")
    def root(request: Request) -> Response:
        try:
            principal = session_principal(platform, request)
        except SignInNeeded:
            return redirect("/login")
        if principal.stage != "full":
            return redirect("/login/second-factor" if principal.stage == "mfa" else "/enrol")
        return redirect(f"/t/{platform.tenants.get_by_id(principal.tenant_id).name}/overview")

    @router.get("/login")
    def login_form(request: Request, expired: int = 0, signed_out: int = 0) -> Response:
        notice = NOTICES["expired"] if expired else NOTICES["signed_out"] if signed_out else None
        return page(request, "login.html", flash=notice)

    @router.post("/login")
    def login(request: Request, tenant: Field = "", email: Field = "",
              password: Field = "") -> Response:
        try:
            result = platform.identity.login(tenant.strip(), email, password,
                                             client_address(request))
        except (Unauthorized, Throttled) as exc:
            status = 429 if isinstance(exc, Throttled) else 401
            # The service's wording: it never says which of tenant/email/password was wrong.
            return page(request, "login.html", status, error=exc.message, tenant=tenant,
                        email=email)
        response = redirect(home_of(result))
        set_session_cookies(response, result, secure_cookies)
        return response

    @router.get("/login/second-factor")
    def second_factor_form(request: Request) -> Response:
        v = viewer(platform, request, None, None, stages=("mfa",))
        return page(request, "second_factor.html", viewer=v)

    @router.post("/login/second-factor")
    def second_factor(request: Request, csrf: Csrf = "", code: Field = "",
                      recovery_code: Field = "") -> Response:
        v = viewer(platform, request, None, None, csrf=csrf, stages=("mfa",))
        try:
            result = platform.identity.complete_mfa(request.cookies.get(SESSION_COOKIE, ""),
                                                    code.strip() or None,
                                                    recovery_code.strip() or None)
        except (Unauthorized, Throttled) as exc:
            status = 429 if isinstance(exc, Throttled) else 401
            return page(request, "second_factor.html", status, viewer=v, error=exc.message)
        response = redirect(home_of(result))
        set_session_cookies(response, result, secure_cookies)
        return response

    @router.get("/enrol")
    def enrol_form(request: Request) -> Response:
        v = viewer(platform, request, None, None, stages=("enrol", "full"))
        return page(request, "enrol.html", viewer=v, required=v.principal.stage == "enrol")

    @router.post("/enrol/start")
    def enrol_start(request: Request, csrf: Csrf = "") -> Response:
        v = viewer(platform, request, None, None, csrf=csrf, stages=("enrol", "full"))
        uri, seed = platform.identity.enrol_totp(v.principal)
        return page(request, "enrol_confirm.html", viewer=v, qr=qr_svg(uri), seed=seed)

    @router.post("/enrol/confirm")
    def enrol_confirm(request: Request, csrf: Csrf = "", code: Field = "") -> Response:
        v = viewer(platform, request, None, None, csrf=csrf, stages=("enrol", "full"))
        try:
            codes = platform.identity.confirm_totp(v.principal, code.strip())
        except Unauthorized as exc:
            return page(request, "enrol.html", 401, viewer=v, error=exc.message,
                        required=v.principal.stage == "enrol")
        tenant = platform.tenants.get_by_id(v.principal.tenant_id).name
        # Shown once: only hashes are stored, and the page is never cached (no-store).
        return page(request, "recovery_codes.html", viewer=v, codes=codes, tenant=tenant)

    @router.post("/logout")
    def logout(request: Request, csrf: Csrf = "") -> Response:
        try:
            principal = session_principal(platform, request)
        except SignInNeeded:
            response = redirect("/login?signed_out=1")
            clear_session_cookies(response)
            return response
        check_csrf(principal, csrf)
        platform.identity.logout(principal, request.cookies.get(SESSION_COOKIE, ""))
        response = redirect("/login?signed_out=1")
        clear_session_cookies(response)
        return response

    return router
