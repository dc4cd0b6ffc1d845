"""HTML rendering for the console: one Jinja2 environment with autoescape on for every
template, and the console's security headers on every response it builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

PREFIX = "/console"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Why each directive: scripts only from our own origin (htmx, vendored) -- no inline script,
# no eval; styles only from our stylesheet; no plugins, no framing (clickjacking), forms
# post only back to us, no <base> rewriting, no outside connections.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on form
    # posts, and the same-origin check needs the real origin. Other sites still get nothing.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
}

# autoescape=True for every template, whatever its extension: tenant text (agent replies,
# audit details, policy contents, secret names) is hostile input and is always escaped.
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
env.filters["pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False,
                                             default=str)
env.filters["compact"] = lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)


R = TypeVar("R", bound=Response)


def secure(response: R) -> R:
    for k, v in HEADERS.items():
        response.headers[k] = v
    return response


def page(request: Request, template: str, code: int = 200, /, **context: Any) -> HTMLResponse:
    context.setdefault("viewer", None)
    context.setdefault("flash", None)
    html = env.get_template(template).render(base=PREFIX, request=request, **context)
    return secure(HTMLResponse(html, status_code=code))


def redirect(path: str) -> RedirectResponse:
    # 303: the browser follows with a GET (post/redirect/get: a reload never re-posts).
    return secure(RedirectResponse(PREFIX + path, status_code=303))
