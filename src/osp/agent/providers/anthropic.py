"""The Anthropic Messages API with tool use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from osp.agent.providers.base import Message, ModelReply, ProviderError, ToolRequest, ToolSpec
from osp.agent.providers.http import RetryPolicy, post_json

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"


def to_anthropic_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "tool":
            block = {"type": "tool_result", "tool_use_id": m["tool_call_id"],
                     "content": m["content"]}
            # Consecutive tool results travel in one user turn, as the API requires.
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            if m.get("content"):
                blocks.append({"type": "text", "text": m["content"]})
            blocks += [{"type": "tool_use", "id": c["id"], "name": c["name"],
                        "input": c["arguments"]} for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


class AnthropicProvider:
    def __init__(self, base_url: str | None, model: str, api_key: str | None,
                 retry: RetryPolicy | None = None, max_tokens: int = 1024) -> None:
        if not api_key:
            raise ProviderError("no model key: set the tenant secret MODEL_API_KEY and restart")
        self.url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        self.model = model
        self._api_key = api_key
        self.retry = retry or RetryPolicy()
        self.max_tokens = max_tokens

    def complete(self, system: str, messages: Sequence[Message],
                 tools: Sequence[ToolSpec]) -> ModelReply:
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens,
                                "messages": to_anthropic_messages(messages)}
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [{"name": t.name, "description": t.description,
                              "input_schema": t.parameters} for t in tools]
        headers = {"x-api-key": self._api_key, "anthropic-version": API_VERSION}
        data = post_json(self.url, headers, body, self.retry, "the model provider")
        content = data.get("content")
        if not isinstance(content, list):
            raise ProviderError("the model provider sent an answer without content")
        texts: list[str] = []
        calls: list[ToolRequest] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                args = block.get("input")
                calls.append(ToolRequest(str(block.get("id") or f"toolu_{len(calls)}"),
                                         block["name"], args if isinstance(args, dict) else {},
                                         malformed=not isinstance(args, dict)))
        return ModelReply("".join(texts), tuple(calls))
