"""Operator pages at ``/console/operator``: the installation's tenants (state, billing,
agent), create/suspend/resume/delete, the fleet (image, governance version, signature per
tenant) and the platform trail with its chain status.

Who: an operator (:mod:`osp.identity.operators`), signed in with password and TOTP code.
Operator sessions live in their own cookies, scoped to ``/console/operator``; tenant pages
never read them and these pages never read a tenant session, so neither kind of session
reaches the other's pages. Every state change carries the operator session's CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from osp.audit.anchor import AnchorFile, check_anchor
from osp.audit.unproven import PLATFORM_TRAIL
from osp.console.auth import SignInNeeded
from osp.console.pages import PAGE_SIZE, age
from osp.console.render import PREFIX, page, redirect
from osp.console.services import ConsoleServices
from osp.errors import (
    Forbidden,
    InvalidInput,
    OspError,
    Throttled,
    Unauthorized,
    Unavailable,
)
from osp.identity.operators import OperatorPrincipal, csrf_ok
from osp.runtime.billing import billing_states
from osp.runtime.interfaces import RuntimeBackendError
from osp.tenancy.service import TenantInfo
from osp.web.app import http_status
from osp.web.deps import client_address

OP_SESSION, OP_CSRF = "osp_op_session", "osp_op_csrf"
OP_PATH = f"{PREFIX}/operator"  # the cookies go nowhere else
Csrf = Annotated[str, Form(max_length=200)]
Field = Annotated[str, Form(max_length=1024)]


@dataclass(frozen=True)
class OperatorViewer:
    principal: OperatorPrincipal
    csrf: str
    operator: bool = True  # templates: show the operator navigation
    tenant: None = None

    @property
    def actor(self) -> str:
        return self.principal.actor


def build_operator_router(services: ConsoleServices) -> APIRouter:
    router = APIRouter(prefix="/operator")
    platform = services.platform
    operators = platform.operators
    secure_cookies = platform.settings.cookie_secure

    def who(request: Request, csrf: str | None = None) -> OperatorViewer:
        token = request.cookies.get(OP_SESSION)
        if not token:
            if csrf is not None:  # a state change is refused outright, never redirected
                raise Unauthorized("operator sign-in needed")
            raise SignInNeeded("/operator/login")
        try:
            principal = operators.authenticate(token)
        except OspError:
            if csrf is not None:
                raise Unauthorized("operator session expired or invalid") from None
            raise SignInNeeded("/operator/login?expired=1") from None
        if csrf is not None and not csrf_ok(principal, csrf):
            raise Forbidden("missing or wrong CSRF token: reload the page and try again")
        return OperatorViewer(principal, request.cookies.get(OP_CSRF, ""))

    def clear(response: Response) -> Response:
        response.delete_cookie(OP_SESSION, path=OP_PATH)
        response.delete_cookie(OP_CSRF, path=OP_PATH)
        return response

    # -- sign-in ----------------------------------------------------------------------------
    @router.get("/login")
    def login_form(request: Request, expired: int = 0) -> Response:
        flash = "Your operator session expired or was signed out." if expired else None
        return page(request, "operator_login.html", flash=flash, error=None, email="")

    @router.post("/login")
    def login(request: Request, email: Field = "", password: Field = "",
              code: Field = "") -> Response:
        try:
            result = operators.login(email, password, code, client_address(request))
        except (Unauthorized, Throttled) as exc:
            status = 429 if isinstance(exc, Throttled) else 401
            return page(request, "operator_login.html", status, error=exc.message,
                        email=email)
        response = redirect("/operator/tenants")
        # HttpOnly session, SameSite=Strict, Secure unless the loopback exception is on;
        # path-scoped so no tenant page ever receives them.
        response.set_cookie(OP_SESSION, result.token, httponly=True, secure=secure_cookies,
                            samesite="strict", path=OP_PATH)
        response.set_cookie(OP_CSRF, result.csrf, httponly=False, secure=secure_cookies,
                            samesite="strict", path=OP_PATH)
        return response

    @router.post("/logout")
    def logout(request: Request, csrf: Csrf = "") -> Response:
        v = who(request, csrf)
        operators.logout(v.principal, request.cookies.get(OP_SESSION, ""))
        return clear(redirect("/operator/login"))

    # -- tenants ----------------------------------------------------------------------------
    def engine_view() -> tuple[dict[str, Any], str | None]:
        """What the engine runs, by tenant name (one engine call for all tenants)."""
        if services.runtime is None:
            return {}, "no container engine is configured for this control plane"
        try:
            return {r.tenant: r for r in services.runtime.backend.list_tenants()}, None
        except RuntimeBackendError as exc:
            return {}, f"the container engine did not answer: {exc}"

    def tenants_page(request: Request, v: OperatorViewer, status: int = 200,
                     **extra: Any) -> Response:
        tenants = platform.tenants.list()
        running, engine_error = engine_view()
        extra.setdefault("error", None)
        extra.setdefault("done", None)
        return page(request, "operator_tenants.html", status, viewer=v, tenants=tenants,
                    billing=billing_states(platform.db),
                    running=running, engine_error=engine_error, **extra)

    @router.get("")
    @router.get("/")
    def home(request: Request) -> Response:
        who(request)
        return redirect("/operator/tenants")

    @router.get("/tenants")
    def tenants(request: Request) -> Response:
        return tenants_page(request, who(request))

    @router.post("/tenants")
    def tenant_create(request: Request, csrf: Csrf = "", name: Field = "",
                      owner_email: Field = "", owner_password: Field = "") -> Response:
        v = who(request, csrf)
        try:
            if bool(owner_email) != bool(owner_password):
                raise InvalidInput("give both the owner's email and password, or neither")
            info = platform.tenants.create(name.strip(), v.actor)
            if owner_email:
                create_owner(info, owner_email, owner_password, v.actor)
        except OspError as exc:
            return tenants_page(request, v, http_status(exc), error=exc.message)
        operators.record(v.actor, "operator.tenant_created", {"tenant": info.name})
        return tenants_page(request, v, done=f"created tenant {info.name}")

    def create_owner(info: TenantInfo, email: str, password: str, actor: str) -> None:
        try:
            platform.identity.create_user(info, email, password, "owner", actor)
        except OspError:
            platform.tenants.delete(info, actor)  # no half-made tenant is left
            raise

    def tenant_named(name: str) -> TenantInfo:
        return platform.tenants.get(name)

    @router.post("/tenants/{name}/{action}")
    def tenant_action(name: str, action: str, request: Request, csrf: Csrf = "",
                      confirm: Field = "") -> Response:
        v = who(request, csrf)
        if action not in ("suspend", "resume", "delete"):
            raise InvalidInput(f"unknown action {action[:20]!r}")
        info = tenant_named(name)
        runtime = services.runtime
        try:
            if action == "delete":
                # Typed confirmation: the exact name, so a misclick deletes nothing.
                if confirm != info.name:
                    raise InvalidInput(f"type the tenant's name ({info.name}) to delete it")
                if runtime is not None:
                    try:
                        # Container, network and volume first: no orphan outlives it.
                        runtime.backend.remove(info.name, purge_data=True)
                    except RuntimeBackendError as exc:
                        raise Unavailable(f"the container engine could not remove the "
                                          f"tenant's container: {exc}; nothing was deleted"
                                          ) from None
                platform.tenants.delete(info, v.actor)
            elif runtime is not None:
                if action == "suspend":
                    runtime.suspend(info, v.actor, "operator console")
                else:
                    runtime.resume(info, v.actor, "operator console", wait=False)
            else:  # no engine here: the registry's word is all there is to change
                platform.tenants.set_state(info.id, "suspended" if action == "suspend"
                                           else "active", v.actor, "operator console")
        except OspError as exc:
            return tenants_page(request, v, http_status(exc), error=exc.message)
        operators.record(v.actor, f"operator.tenant_{action}", {"tenant": info.name})
        return tenants_page(request, v, done=f"{action}: {info.name}")

    # -- fleet ------------------------------------------------------------------------------
    @router.get("/fleet")
    def fleet(request: Request) -> Response:
        v = who(request)
        running, engine_error = engine_view()
        verifier = services.runtime.verifier if services.runtime is not None else None
        signed: dict[str, str] = {}
        for r in running.values():
            if not r.image_id or r.image_id in signed:
                continue
            if verifier is None:
                signed[r.image_id] = "not checked (no release verification configured)"
                continue
            try:
                verifier.verify(r.image_id)
                signed[r.image_id] = "signed"
            except OspError as exc:
                signed[r.image_id] = f"NOT signed: {exc.message}"
        return page(request, "operator_fleet.html", viewer=v, tenants=platform.tenants.list(),
                    running=running, engine_error=engine_error, signed=signed)

    # -- platform trail ---------------------------------------------------------------------
    @router.get("/audit")
    def audit(request: Request, kind: str = "", before: int | None = None) -> Response:
        v = who(request)
        anchor = AnchorFile(platform.settings.anchor_path).read().get(str(PLATFORM_TRAIL))
        with platform.db.tenant(PLATFORM_TRAIL) as s:
            events = platform.audit.find(s, PLATFORM_TRAIL, kind=kind[:100] or None,
                                         before_seq=before, limit=PAGE_SIZE)
            verified = platform.chains.verify(s, PLATFORM_TRAIL)
            anchor_problems = check_anchor(s, PLATFORM_TRAIL, anchor)
        chain = {"checked": verified.checked, "broken_at": verified.broken_at,
                 "problems": verified.problems + anchor_problems,
                 "anchor_seq": anchor.seq if anchor else None,
                 "anchor_age": age(anchor.anchored_at) if anchor else None}
        older = events[-1].seq if len(events) == PAGE_SIZE else None
        return page(request, "operator_audit.html", viewer=v, events=events, chain=chain,
                    kind=kind, older=older)

    return router
