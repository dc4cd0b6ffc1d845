"""OpenAI-compatible chat completions with tool calling.

Covers OpenAI, Azure OpenAI (deployment URL as base URL), vLLM, Ollama, llama.cpp server and
anything else that speaks ``POST {base_url}/chat/completions``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from osp.agent.providers.base import Message, ModelReply, ProviderError, ToolRequest, ToolSpec
from osp.agent.providers.http import RetryPolicy, post_json


def to_openai_messages(system: str, messages: Sequence[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        if m["role"] == "tool":
            out.append({"role": "tool", "tool_call_id": m["tool_call_id"],
                        "content": m["content"]})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            out.append({"role": "assistant", "content": m.get("content") or None,
                        "tool_calls": [
                            {"id": c["id"], "type": "function",
                             "function": {"name": c["name"],
                                          "arguments": json.dumps(c["arguments"])}}
                            for c in m["tool_calls"]]})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


def parse_tool_call(raw: Any, index: int) -> ToolRequest:
    fn = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise ProviderError("the model sent a malformed tool call")
    call_id = str(raw.get("id") or f"call_{index}")
    args_raw = fn.get("arguments") or "{}"
    try:
        args = json.loads(args_raw) if isinstance(args_raw, str) else args_raw
    except ValueError:
        return ToolRequest(call_id, fn["name"], {}, malformed=True)
    if not isinstance(args, dict):
        return ToolRequest(call_id, fn["name"], {}, malformed=True)
    return ToolRequest(call_id, fn["name"], args)


class OpenAIProvider:
    def __init__(self, base_url: str, model: str, api_key: str | None,
                 retry: RetryPolicy | None = None) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self.retry = retry or RetryPolicy()

    def complete(self, system: str, messages: Sequence[Message],
                 tools: Sequence[ToolSpec]) -> ModelReply:
        body: dict[str, Any] = {"model": self.model,
                                "messages": to_openai_messages(system, messages)}
        if tools:
            body["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in tools]
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        data = post_json(self.url, headers, body, self.retry, "the model provider")
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise ProviderError("the model provider sent an answer without a message") from None
        calls = tuple(parse_tool_call(c, i) for i, c in enumerate(message.get("tool_calls") or []))
        content = message.get("content")
        return ModelReply(content if isinstance(content, str) else "", calls)
