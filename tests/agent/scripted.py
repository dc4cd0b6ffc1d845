"""A scripted OpenAI-compatible model server (the only test double: it stands in for the paid
model API). Tests queue the assistant messages it answers with and read what it was sent."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


FENCE = re.compile(r"\A<<<data ([0-9a-f]{16}) source=[^\n]*>>>\n(.*)\n<<<end \1>>>\Z", re.S)


def unfenced(content: str) -> str:
    """A tool result as the tool produced it: the agent's spotlight fence
    (osp.agent.spotlight) taken off; refusals the agent writes itself are not fenced."""
    match = FENCE.match(content)
    return match.group(2) if match else content


def say(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def call(tool: str, /, call_id: str = "call_1", **arguments: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function",
         "function": {"name": tool, "arguments": json.dumps(arguments)}}]}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that went away (a killed container) is part of some tests


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    def text(self) -> str:
        return json.dumps(self.body["messages"])


@dataclass
class ScriptedModel:
    port: int = 0
    script: list[Step] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    status: list[int] = field(default_factory=list)  # queued HTTP error statuses
    # The error message a queued status answers with; by default "scripted <code>". A
    # provider that echoes the request in its error is what some real ones do.
    error_text: Callable[[dict[str, Any]], str] | None = None
    hold: threading.Event | None = None  # when set, requests wait for it (a slow model)
    # Queued raw 200 bodies, answered before the script (a provider answering garbage).
    garbage: list[bytes] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, *steps: Step) -> None:
        with self.lock:
            self.script = list(steps)
            self.seen.clear()
            self.status.clear()
            self.hold = None
            self.error_text = None
            self.garbage.clear()
            self.entered.clear()

    def _next(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.status:
                code = self.status.pop(0)
                text = self.error_text(body) if self.error_text else f"scripted {code}"
                return code, {"error": {"message": text}}
            step = self.script.pop(0) if self.script else say("(script exhausted)")
        message = step(body) if callable(step) else step
        return 200, {"id": "chatcmpl-test", "object": "chat.completion",
                     "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}

    def handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with model.lock:
                    model.seen.append(Seen(self.path, {k.lower(): v for k, v in
                                                       self.headers.items()}, body))
                model.entered.set()
                if model.hold is not None:
                    model.hold.wait(60)
                with model.lock:
                    raw = model.garbage.pop(0) if model.garbage else None
                if raw is None:
                    code, payload = model._next(body)
                    data = json.dumps(payload).encode()
                else:
                    code, data = 200, raw
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def start(self, host: str = "127.0.0.1") -> ThreadingHTTPServer:
        server = _QuietServer((host, self.port), self.handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
