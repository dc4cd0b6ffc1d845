"""Model providers against local scripted servers: tool calls both ways, retries with
backoff on transient errors only, one clear line on failure, timeouts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from osp.agent.providers import NoModelConfigured, ProviderError, ToolSpec, make_provider
from osp.agent.providers.anthropic import AnthropicProvider
from osp.agent.providers.http import RetryPolicy, post_json
from osp.agent.providers.openai import OpenAIProvider
from tests.agent.scripted import ScriptedModel, call, say

FAST = RetryPolicy(timeout_s=2, retries=2, backoff_s=0.01)
TOOL = ToolSpec("memory_read", "Read a note.", {"type": "object", "properties": {
    "name": {"type": "string"}}, "required": ["name"]})


def test_openai_tool_calls_round_trip(model: ScriptedModel) -> None:
    model.reset(call("memory_read", name="plan"), say("The plan is ready."))
    provider = OpenAIProvider(f"http://127.0.0.1:{model.port}/v1", "m", "sk-x", FAST)

    first = provider.complete("be brief", [{"role": "user", "content": "plan?"}], [TOOL])
    second = provider.complete("be brief", [
        {"role": "user", "content": "plan?"},
        {"role": "assistant", "content": "", "tool_calls": [first.tool_calls[0].as_dict()]},
        {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "ship Friday"}],
        [TOOL])

    assert first.tool_calls[0].name == "memory_read"
    assert first.tool_calls[0].arguments == {"name": "plan"}
    assert second.text == "The plan is ready."
    sent = model.seen[1].body
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"name": "plan"}'
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "call_1",
                                   "content": "ship Friday"}
    assert sent["tools"][0]["function"]["name"] == "memory_read"
    assert model.seen[0].headers["authorization"] == "Bearer sk-x"


def test_malformed_tool_arguments_are_flagged_not_guessed(model: ScriptedModel) -> None:
    model.reset({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "memory_read",
                                                     "arguments": "{not json"}}]})
    reply = OpenAIProvider(f"http://127.0.0.1:{model.port}/v1", "m", None, FAST).complete(
        "", [{"role": "user", "content": "x"}], [TOOL])
    assert reply.tool_calls[0].malformed and reply.tool_calls[0].arguments == {}


def test_transient_errors_are_retried_and_client_errors_are_not(model: ScriptedModel) -> None:
    provider = OpenAIProvider(f"http://127.0.0.1:{model.port}/v1", "m", "k", FAST)
    model.reset(say("finally"))
    model.status.extend([503, 429])
    assert provider.complete("", [{"role": "user", "content": "x"}], []).text == "finally"
    assert len(model.seen) == 3

    model.reset(say("never"))
    model.status.extend([400])
    with pytest.raises(ProviderError, match="HTTP 400: scripted 400"):
        provider.complete("", [{"role": "user", "content": "x"}], [])
    assert len(model.seen) == 1

    model.reset()
    model.status.extend([500, 500, 500])
    with pytest.raises(ProviderError, match=r"HTTP 500.*after 3 attempts"):
        provider.complete("", [{"role": "user", "content": "x"}], [])


def test_an_unreachable_or_slow_provider_fails_with_one_line(model: ScriptedModel) -> None:
    with pytest.raises(ProviderError, match="unreachable") as unreachable:
        OpenAIProvider("http://127.0.0.1:9/v1", "m", "k", FAST).complete(
            "", [{"role": "user", "content": "x"}], [])
    model.reset(say("late"))
    model.hold = threading.Event()
    slow = RetryPolicy(timeout_s=0.3, retries=0)
    with pytest.raises(ProviderError, match=r"did not answer within 0\.3s"):
        OpenAIProvider(f"http://127.0.0.1:{model.port}/v1", "m", "k", slow).complete(
            "", [{"role": "user", "content": "x"}], [])
    model.hold.set()
    assert "\n" not in str(unreachable.value)


class _Anthropic(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[dict[str, str], dict[str, Any]]]] = []
    answers: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
        data = json.dumps(type(self).answers.pop(0)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def anthropic() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Anthropic)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Anthropic.seen, _Anthropic.answers = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_anthropic_messages_with_tool_use(anthropic: str) -> None:
    _Anthropic.answers.extend([
        {"content": [{"type": "text", "text": "Let me look."},
                     {"type": "tool_use", "id": "toolu_1", "name": "memory_read",
                      "input": {"name": "plan"}}]},
        {"content": [{"type": "text", "text": "Ship on Friday."}]}])
    provider = AnthropicProvider(anthropic, "claude-x", "ant-key", FAST)

    first = provider.complete("sys", [{"role": "user", "content": "plan?"}], [TOOL])
    second = provider.complete("sys", [
        {"role": "user", "content": "plan?"},
        {"role": "assistant", "content": first.text,
         "tool_calls": [c.as_dict() for c in first.tool_calls]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Friday"}], [TOOL])

    assert first.text == "Let me look." and first.tool_calls[0].arguments == {"name": "plan"}
    assert second.text == "Ship on Friday."
    headers, body = _Anthropic.seen[1]
    assert headers["x-api-key"] == "ant-key" and headers["anthropic-version"] == "2023-06-01"
    assert body["system"] == "sys" and body["tools"][0]["input_schema"] == TOOL.parameters
    assert body["messages"][1]["content"][1] == {"type": "tool_use", "id": "toolu_1",
                                                 "name": "memory_read",
                                                 "input": {"name": "plan"}}
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Friday"}]}


def test_no_model_configured_or_no_key_says_what_to_do() -> None:
    with pytest.raises(NoModelConfigured, match="osp tenant set-model"):
        make_provider(None, None, None, {})
    with pytest.raises(NoModelConfigured, match="base URL"):
        make_provider("openai", None, "m", {})
    with pytest.raises(ProviderError, match="MODEL_API_KEY"):
        make_provider("anthropic", None, "claude-x", {})


def test_a_refused_endpoint_fails_with_the_fix_named() -> None:
    from tests.slots import free_port

    port = free_port()  # nothing listens: refused at once, like a port the firewall resets
    with pytest.raises(ProviderError, match=r"unreachable \(ConnectionRefusedError\), after 3 "
                       r"attempts; .*--host-port"):
        post_json(f"http://127.0.0.1:{port}/v1/chat/completions", {}, {}, RetryPolicy(
            timeout_s=5, backoff_s=0.01), "model", sleep=lambda _s: None)
