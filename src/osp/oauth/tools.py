"""Connected-app tools as data (tools.json) and the executor that calls the provider's API.

The execution rails (allow-list, argument validation, approval) decide *whether* a call
runs; this executor checks the same argument rules again and refuses an unapproved call
to an approval tool, so a bypassed rail still fails closed. It only ever holds an access
token, for the one scope the tool needs.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

import httpx

from osp.errors import Forbidden, InvalidInput, NotFound, OspError
from osp.oauth.catalog import catalog_entry
from osp.oauth.interfaces import TokenSource

TIMEOUT = httpx.Timeout(20.0)
MAX_RESULT = 512 * 1024
_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,),
                                       "number": (int, float), "boolean": (bool,)}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    provider: str
    integration: str
    scope: str
    approval: bool
    method: str
    url: str
    body: str  # "none" | "rfc822"
    path_args: tuple[str, ...]
    query_args: tuple[str, ...]
    fixed_query: dict[str, str]
    # Shaped like the governance policy's ArgConstraint, so a policy can use them as-is.
    arguments: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class ToolResult:
    status: int
    data: Any


class ToolFailed(OspError):
    status_code = 502


def _spec(name: str, raw: dict[str, Any]) -> ToolSpec:
    spec = ToolSpec(name=name, title=raw["title"], provider=raw["provider"],
                    integration=raw["integration"], scope=raw["scope"],
                    approval=bool(raw["approval"]), method=raw["method"], url=raw["url"],
                    body=raw["body"], path_args=tuple(raw["path_args"]),
                    query_args=tuple(raw["query_args"]), fixed_query=dict(raw["fixed_query"]),
                    arguments=dict(raw["arguments"]))
    # Checked at load: a tool may only use a scope its catalog integration grants.
    if spec.scope not in catalog_entry(spec.provider).integrations[spec.integration].scopes:
        raise InvalidInput(f"tool {name}: scope is not part of {spec.integration}")
    if not spec.url.startswith("https://") or spec.body not in ("none", "rfc822"):
        raise InvalidInput(f"tool {name}: malformed")
    for arg in (*spec.path_args, *spec.query_args):
        if arg not in spec.arguments:
            raise InvalidInput(f"tool {name}: {arg} has no argument rule")
    return spec


@cache
def load_tools() -> dict[str, ToolSpec]:
    raw = json.loads(resources.files("osp.oauth").joinpath("tools.json")
                     .read_text(encoding="utf-8"))
    if raw.get("version") != 1:
        raise InvalidInput("unsupported tools.json version")
    return {name: _spec(name, t) for name, t in sorted(raw["tools"].items())}


def tool_policy(names: list[str]) -> dict[str, Any]:
    """The governance tool-policy fragment for these tools (allow-list, approvals, argument
    rules), so a tenant policy enables a connected-app tool with its guard rails attached."""
    tools = load_tools()
    unknown = [n for n in names if n not in tools]
    if unknown:
        raise NotFound(f"no connected-app tool named {unknown[0][:80]!r}")
    return {"allowed": list(names),
            "approval_required": [n for n in names if tools[n].approval],
            "arguments": {n: tools[n].arguments for n in names},
            "allow_unknown_arguments": False}


def argument_problems(spec: ToolSpec, args: dict[str, Any]) -> list[str]:
    problems = [f"{n}: not an allowed argument" for n in args if n not in spec.arguments]
    for name, rule in spec.arguments.items():
        if name not in args:
            if rule.get("required"):
                problems.append(f"{name}: required")
            continue
        value = args[name]
        kind = rule.get("type")
        if kind and (not isinstance(value, _TYPES[kind]) or (isinstance(value, bool) and
                     kind != "boolean")):
            problems.append(f"{name}: expected {kind}")
            continue
        if isinstance(value, str):
            if len(value) > rule.get("max_length", 10**6):
                problems.append(f"{name}: too long")
            if rule.get("pattern") and not re.fullmatch(rule["pattern"], value):
                problems.append(f"{name}: does not match pattern")
        if isinstance(value, int | float) and not isinstance(value, bool) and (
                value < rule.get("minimum", float("-inf")) or
                value > rule.get("maximum", float("inf"))):
            problems.append(f"{name}: out of range")
    return problems


class ToolExecutor:
    def __init__(self, http: httpx.Client, tokens: TokenSource,
                 url_prefixes: dict[str, str] | None = None) -> None:
        self.http, self.tokens = http, tokens
        # Only for tests: maps a provider's API origin to a local stand-in.
        self.url_prefixes = url_prefixes or {}

    def execute(self, name: str, connection_id: uuid.UUID, args: dict[str, Any], *,
                approved: bool = False) -> ToolResult:
        spec = load_tools().get(name)
        if spec is None:
            raise NotFound(f"no connected-app tool named {name[:80]!r}")
        problems = argument_problems(spec, args)
        if problems:
            raise InvalidInput(f"{name}: " + "; ".join(problems))
        if spec.approval and not approved:
            raise Forbidden(f"{name} needs a person's approval before it runs")
        request = self._request(spec, args)
        resp = self._send(spec, connection_id, request, force_refresh=False)
        if resp.status_code == 401:
            # Refused token: maybe revoked or expired early. One forced refresh either
            # yields a working token or marks the connection needs_reauth (raised here).
            resp = self._send(spec, connection_id, request, force_refresh=True)
        if resp.status_code >= 400:
            raise ToolFailed(f"{name}: the provider answered HTTP {resp.status_code}")
        if len(resp.content) > MAX_RESULT:
            raise ToolFailed(f"{name}: the answer is larger than {MAX_RESULT} bytes")
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            raise ToolFailed(f"{name}: the answer is not JSON") from None
        return ToolResult(resp.status_code, data)

    def _request(self, spec: ToolSpec, args: dict[str, Any]) -> httpx.Request:
        url = spec.url
        for arg in spec.path_args:
            url = url.replace("{" + arg + "}", quote(str(args[arg]), safe=""))
        for origin, local in self.url_prefixes.items():
            if url.startswith(origin):
                url = local + url[len(origin):]
        params = {**spec.fixed_query, **{a: str(args[a]) for a in spec.query_args if a in args}}
        body = None
        if spec.body == "rfc822":
            msg = EmailMessage()
            msg["To"], msg["Subject"] = args["to"], args["subject"]
            msg.set_content(args["text"])
            body = {"raw": base64.urlsafe_b64encode(msg.as_bytes()).decode()}
        return httpx.Request(spec.method, url, params=params, json=body)

    def _send(self, spec: ToolSpec, connection_id: uuid.UUID, request: httpx.Request, *,
              force_refresh: bool) -> httpx.Response:
        token = self.tokens.token(connection_id, spec.scope, force_refresh=force_refresh)
        request.headers["authorization"] = f"Bearer {token}"
        try:
            return self.http.send(request, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise ToolFailed(f"{spec.name}: {type(exc).__name__}") from None
