"""Connected-app tools as data (tools.json) and the executor that calls the provider's API.

The execution rails (allow-list, argument validation, approval) decide *whether* a call
runs; this executor checks the same argument rules again and refuses an unapproved call
to an approval tool, so a bypassed rail still fails closed. It only ever holds an access
token, for the one scope the tool needs, and never follows a redirect with it.

Stdlib only (no httpx): the agent runs this module inside its container, whose image
carries only the governance layer's few dependencies.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from osp.checks.arguments import argument_problems as shared_argument_problems
from osp.checks.outbound import TooLarge, Unreachable, fetch
from osp.errors import Conflict, Forbidden, InvalidInput, NotFound, UpstreamFailed
from osp.oauth.catalog import catalog_entry
from osp.oauth.interfaces import TokenSource

TIMEOUT_S = 20.0
MAX_RESULT = 512 * 1024


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


@dataclass(frozen=True)
class PreparedCall:
    method: str
    url: str
    headers: dict[str, str] = field(repr=False)  # carries the bearer token once sent
    body: bytes | None = field(repr=False)


Transport = Callable[[PreparedCall], tuple[int, bytes]]  # -> (HTTP status, body)


class ToolFailed(UpstreamFailed):
    """The connected app answered a tool call with an error."""


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


@dataclass(frozen=True)
class ConnectionView:
    id: uuid.UUID
    provider: str
    status: str
    scopes: tuple[str, ...]


def pick_connection(spec: ToolSpec, connections: Sequence[ConnectionView]) -> uuid.UUID:
    """The tenant's connection a call of ``spec`` runs on: the active one that granted its
    scope (the one named like the tool's provider if several did). Never a guess: acting in
    the wrong account is worse than asking for the ambiguity to be removed."""
    usable = [c for c in connections if c.status == "active" and spec.scope in c.scopes]
    named = [c for c in usable if c.provider == spec.provider]
    if len(named) == 1:
        return named[0].id
    if len(usable) == 1:
        return usable[0].id
    if not usable:
        raise NotFound(f"no connected app grants {spec.integration} ({spec.provider}); "
                       "a person must connect one first")
    raise Conflict(f"several connections grant {spec.integration}; "
                   f"name one of them {spec.provider!r}")


def api_origins() -> set[str]:
    """The provider API origins the tools call (``https://host``)."""
    return {"/".join(spec.url.split("/", 3)[:3]) for spec in load_tools().values()}


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
    # The one validator the agent and the execution rail use too (``pattern`` matches the
    # whole value; ``enum`` is honoured here as well).
    return shared_argument_problems(args, spec.arguments)


def urllib_send(request: PreparedCall) -> tuple[int, bytes]:
    """The default transport (stdlib only: it also runs inside the agent's container). The
    agent's one outgoing-HTTP helper: a redirect is never followed (it would carry the bearer
    token to wherever it points) and no proxy from the environment is used."""
    try:
        answer = fetch(request.method, request.url, headers=request.headers,
                       body=request.body, timeout=TIMEOUT_S, max_bytes=MAX_RESULT)
    except TooLarge:
        raise ToolFailed(f"the answer is larger than {MAX_RESULT} bytes") from None
    except Unreachable as exc:
        raise ToolFailed(f"the provider could not be reached ({exc.reason})") from None
    return answer.status, answer.body


class ToolExecutor:
    def __init__(self, tokens: TokenSource, url_prefixes: dict[str, str] | None = None,
                 send: Transport = urllib_send) -> None:
        self.tokens, self.send = tokens, send
        # Maps a provider's API origin to a stand-in (tests, a host-local mirror).
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
        request = self.prepare(spec, args)
        status, content = self._send(spec, connection_id, request, force_refresh=False)
        if status == 401:
            # Refused token: maybe revoked or expired early. One forced refresh either
            # yields a working token or marks the connection needs_reauth (raised here).
            status, content = self._send(spec, connection_id, request, force_refresh=True)
        if status >= 300:
            raise ToolFailed(f"{name}: the provider answered HTTP {status}")
        if len(content) > MAX_RESULT:
            raise ToolFailed(f"{name}: the answer is larger than {MAX_RESULT} bytes")
        try:
            data = json.loads(content) if content else None
        except ValueError:
            raise ToolFailed(f"{name}: the answer is not JSON") from None
        return ToolResult(status, data)

    def prepare(self, spec: ToolSpec, args: dict[str, Any]) -> PreparedCall:
        url = spec.url
        for arg in spec.path_args:
            url = url.replace("{" + arg + "}", quote(str(args[arg]), safe=""))
        for origin, local in self.url_prefixes.items():
            if url.startswith(origin + "/"):
                url = local.rstrip("/") + url[len(origin):]
        params = {**spec.fixed_query, **{a: str(args[a]) for a in spec.query_args if a in args}}
        if params:
            url += "?" + urlencode(params)
        headers = {"Accept": "application/json", "User-Agent": "osp"}
        body = None
        if spec.body == "rfc822":
            msg = EmailMessage()
            msg["To"], msg["Subject"] = args["to"], args["subject"]
            msg.set_content(args["text"])
            raw = base64.urlsafe_b64encode(msg.as_bytes()).decode()
            body = json.dumps({"raw": raw}).encode()
            headers["Content-Type"] = "application/json"
        return PreparedCall(spec.method, url, headers, body)

    def _send(self, spec: ToolSpec, connection_id: uuid.UUID, request: PreparedCall, *,
              force_refresh: bool) -> tuple[int, bytes]:
        token = self.tokens.token(connection_id, spec.scope, force_refresh=force_refresh)
        authorised = PreparedCall(request.method, request.url,
                                  {**request.headers, "Authorization": f"Bearer {token}"},
                                  request.body)
        return self.send(authorised)
