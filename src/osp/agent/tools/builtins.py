"""Built-in tools: ``http_get`` (allow-listed domains only), memory and knowledge.

Which of these a model may call is decided by the tenant's policy (``tools.allowed``) and the
execution rail, never here: registering a tool offers nothing by itself.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from osp.agent.knowledge import Knowledge
from osp.agent.memory import Memory, MemoryError_
from osp.agent.tools.registry import Tool, ToolContext, ToolError, ToolRegistry
from osp.checks.outbound import opener as outbound_opener

MAX_FETCH_BYTES = 1024 * 1024


def domain_allowed(host: str, allowed: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a new request: it must pass the same domain allow-list."""

    def __init__(self, allowed: Sequence[str]) -> None:
        self.allowed = allowed

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:
        parts = urlsplit(newurl)
        if parts.scheme not in ("http", "https") or not domain_allowed(parts.hostname or "",
                                                                        self.allowed):
            raise ToolError(f"redirect to {parts.hostname or '?'} refused: domain not allowed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def make_http_get(allowed_domains: Sequence[str], timeout_s: float,
                  host_alias: Mapping[str, str] | None = None) -> Tool:
    aliases = dict(host_alias or {})

    def http_get(args: Mapping[str, Any], _ctx: ToolContext) -> str:
        url = str(args["url"])
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ToolError("only http:// and https:// URLs can be fetched")
        # Deny by default: an empty list allows nothing.
        if not domain_allowed(parts.hostname, allowed_domains):
            raise ToolError(f"domain {parts.hostname} is not on this agent's allow-list")
        target = url
        if parts.hostname in aliases:
            target = url.replace(parts.hostname, aliases[parts.hostname], 1)
        # No proxy from the environment (osp.checks.outbound); each redirect is checked.
        opener = outbound_opener(_CheckedRedirects(allowed_domains))
        request = urllib.request.Request(target, headers={"User-Agent": "osp-agent"})  # noqa: S310
        try:
            with opener.open(request, timeout=timeout_s) as resp:
                ctype = resp.headers.get("Content-Type", "")
                if not ctype.startswith(("text/", "application/json", "application/xml")):
                    raise ToolError(f"refused content type {ctype.split(';')[0] or 'unknown'}")
                body: bytes = resp.read(MAX_FETCH_BYTES)
        except urllib.error.HTTPError as exc:
            raise ToolError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ToolError(f"fetch failed ({type(getattr(exc, 'reason', exc)).__name__})") \
                from None
        return body.decode("utf-8", "replace")

    return Tool(
        "http_get", "Fetch a web page or JSON document by URL (allow-listed domains only).",
        {"type": "object", "properties": {"url": {"type": "string", "maxLength": 2000,
                                                  "pattern": r"https?://\S+"}},
         "required": ["url"], "additionalProperties": False},
        http_get)


def memory_tools(memory: Memory) -> list[Tool]:
    # Notes belong to the person the agent is talking to (ctx), never to the whole tenant.
    def read(args: Mapping[str, Any], ctx: ToolContext) -> str:
        try:
            text = memory.read_note(ctx.channel, ctx.user, str(args["name"]))
        except MemoryError_ as exc:
            raise ToolError(str(exc)) from None
        return text if text is not None else f"no note named {args['name']!r}"

    def write(args: Mapping[str, Any], ctx: ToolContext) -> str:
        try:
            memory.write_note(ctx.channel, ctx.user, str(args["name"]), str(args["content"]))
        except MemoryError_ as exc:
            raise ToolError(str(exc)) from None
        return f"saved note {args['name']!r}"

    def search(args: Mapping[str, Any], ctx: ToolContext) -> str:
        hits = memory.search_notes(ctx.channel, ctx.user, str(args["query"]))
        return "\n\n".join(f"## {name}\n{text}" for name, text in hits) or "no matching notes"

    name = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
    return [
        Tool("memory_read", "Read a long-term note by name.",
             {"type": "object", "properties": {"name": name}, "required": ["name"],
              "additionalProperties": False}, read),
        Tool("memory_write", "Save a long-term note (Markdown) under a name.",
             {"type": "object", "properties": {"name": name, "content": {
                 "type": "string", "maxLength": 20000}},
              "required": ["name", "content"], "additionalProperties": False}, write),
        Tool("memory_search", "Search long-term notes.",
             {"type": "object", "properties": {"query": {"type": "string", "maxLength": 500}},
              "required": ["query"], "additionalProperties": False}, search),
    ]


def knowledge_tool(knowledge: Knowledge) -> Tool:
    def search(args: Mapping[str, Any], _ctx: ToolContext) -> str:
        hits = knowledge.search(str(args["query"]), int(args.get("k", 3)))
        return "\n\n".join(f"[{c.document}#{c.index}] {c.text}" for c in hits) or "no matches"

    return Tool("knowledge_search", "Search the documents this agent was given.",
                {"type": "object", "properties": {
                    "query": {"type": "string", "maxLength": 500},
                    "k": {"type": "integer", "minimum": 1, "maximum": 10}},
                 "required": ["query"], "additionalProperties": False}, search)


def builtin_tools(memory: Memory, knowledge: Knowledge, allowed_domains: Sequence[str],
                  http_timeout_s: float = 10.0,
                  host_alias: Mapping[str, str] | None = None) -> ToolRegistry:
    registry = ToolRegistry()
    registry.register(make_http_get(allowed_domains, http_timeout_s, host_alias))
    for tool in memory_tools(memory):
        registry.register(tool)
    registry.register(knowledge_tool(knowledge))
    return registry
