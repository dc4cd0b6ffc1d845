"""The console as a sub-application mounted at ``/console`` by the composition root: its own
error pages (HTML, never a traceback), its own strict security headers on every response
(static files and errors included), and a same-origin check on every state change."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from osp.console.auth import SignInNeeded
from osp.console.connect import build_connect_router
from osp.console.manage import build_manage_router
from osp.console.operator import build_operator_router
from osp.console.pages import build_pages_router
from osp.console.policy import build_policy_router
from osp.console.render import STATIC, page, redirect, secure
from osp.console.services import ConsoleServices
from osp.console.signin import build_signin_router, clear_session_cookies
from osp.errors import OspError
from osp.logs import get_logger
from osp.web.app import http_status

log = get_logger("osp.console")
TITLES = {401: "Sign in needed", 403: "Not allowed", 404: "Not found", 409: "Conflict",
          422: "Invalid input", 429: "Too many attempts"}


def _cross_site(request: Request) -> bool:
    """A state change from another site. SameSite=Strict cookies and the CSRF token already
    stop it; this refuses it before any work, and covers the sign-in form (login CSRF).
    Browsers say where a request comes from in Sec-Fetch-Site; without it, Origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site != "same-origin"
    origin = request.headers.get("origin")
    if origin is None:
        return False  # not a browser (scripts hold no one's cookies)
    return origin == "null" or urlsplit(origin).netloc != request.headers.get("host", "")


def build_console(services: ConsoleServices) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def _guard(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.method not in ("GET", "HEAD") and _cross_site(request):
            return page(request, "error.html", 403, title="Not allowed",
                        message="cross-site request refused")
        response = await call_next(request)
        return secure(response)

    @app.exception_handler(SignInNeeded)
    async def _sign_in(_req: Request, exc: SignInNeeded) -> Response:
        response = redirect(exc.where)
        if exc.where.startswith("/login"):
            clear_session_cookies(response)
        return response

    @app.exception_handler(OspError)
    async def _error(request: Request, exc: OspError) -> Response:
        status = http_status(exc)
        return page(request, "error.html", status, title=TITLES.get(status, "Error"),
                    message=exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # The field and the rule only: the submitted value may be a secret.
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        return page(request, "error.html", 422, title="Invalid input",
                    message=f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return page(request, "error.html", exc.status_code,
                    title=TITLES.get(exc.status_code, "Error"), message=str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("console_error", path=request.url.path, error_type=type(exc).__name__)
        return page(request, "error.html", 500, title="Error", message="internal error")

    app.include_router(build_signin_router(services.platform))
    app.include_router(build_pages_router(services))
    app.include_router(build_manage_router(services))
    app.include_router(build_policy_router(services))
    app.include_router(build_operator_router(services))
    app.include_router(build_connect_router(services))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
