"""FastAPI application factory: error mapping and security headers. Which routers and jobs
an app has is decided by the composition root (:mod:`osp.app`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import osp
from osp import telemetry
from osp.errors import (
    Conflict,
    Forbidden,
    IntegrityFailure,
    InvalidInput,
    Misconfigured,
    NotFound,
    OspError,
    Throttled,
    Unauthorized,
    Unavailable,
    UpstreamFailed,
)
from osp.logs import get_logger
from osp.platform import Platform
from osp.web.db_errors import install_db_error_handlers
from osp.web.limits import BodyLimit
from osp.web.metrics import install_observability

log = get_logger("osp.web")

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _validation_reason(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))


# Each kind of domain error as an HTTP status: the only place errors meet HTTP.
HTTP_STATUS: dict[type[OspError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    Throttled: 429,
    Unavailable: 503,
    UpstreamFailed: 502,
    Misconfigured: 500,
    IntegrityFailure: 500,
}


def http_status(exc: OspError) -> int:
    """The status of the nearest kind in the error's class hierarchy (400 for the generic
    kind)."""
    for kind in type(exc).__mro__:
        if kind in HTTP_STATUS:
            return HTTP_STATUS[kind]
    return 400


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OspError)
    async def _osp_error(_req: Request, exc: OspError) -> JSONResponse:
        if isinstance(exc, Throttled):
            # By the refusal's kind (login throttle, per-tenant turn cap, ...): class names
            # are a fixed set, so the label stays bounded.
            telemetry.throttled(type(exc).__name__)
        return JSONResponse({"error": exc.message}, status_code=http_status(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        # Only the location and message, never the submitted input (it may hold a secret).
        return JSONResponse({"error": _validation_reason(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", path=req.url.path, error_type=type(exc).__name__)
        return JSONResponse({"error": "internal error"}, status_code=500)


def create_app(platform: Platform, routers: Iterable[APIRouter] = (), *,
               lifespan: Callable[[Any], Any] | None = None) -> FastAPI:
    app = FastAPI(title="OSP control plane", version=osp.__version__,
                  openapi_url="/api/v1/openapi.json", lifespan=lifespan)
    app.state.platform = platform
    install_error_handlers(app)
    install_db_error_handlers(app)

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            if request.url.path in ("/docs", "/redoc") and k == "content-security-policy":
                continue
            response.headers.setdefault(k, v)
        return response

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": osp.__version__}

    # Outermost of the app's own middleware: bodies are bounded before anything reads them.
    app.add_middleware(BodyLimit, max_body=platform.settings.max_body_bytes)
    # Outside that: every answer (a 413 included) carries a request id and is counted.
    install_observability(app, lambda: [t.state for t in platform.tenants.list()])
    for router in routers:
        app.include_router(router)
    return app
