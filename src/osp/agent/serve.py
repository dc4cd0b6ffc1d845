"""The governed agent's HTTP surface inside the container, added to ``main``'s handler.

Routes (all POST, JSON, ``Authorization: Bearer <status key>``)::

    /v1/messages            {message_id, channel, user, text, skill?, config} -> outcome
    /v1/approvals/<id>      {decision: approved|denied|expired, config}      -> outcome
    /v1/knowledge           {name, content}                                  -> {chunks}
    /v1/skills              {name, content}                                  -> {name}
    /v1/deliver             {reply_to, text, config}  send a reply to Slack/Telegram

Only the control plane holds the key: it is derived per container instance from the runtime
key and handed to the agent at the bootstrap exchange, so another tenant's container (which
cannot reach this one anyway) or a stale instance cannot drive this agent.

Importing this module stays stdlib-only: the governance layer and the agent loop (numpy,
pydantic, the detectors' weights) load on the first message, so an idle agent stays small.
"""

from __future__ import annotations

import hmac
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from osp.agent import main as agent_main

if TYPE_CHECKING:
    from osp.agent.loop import Agent

MAX_BODY = 4 * 1024 * 1024
HOST_ALIAS = "osp-host"  # the tenant network's gateway: host-local model servers (Ollama …)


def host_alias(internal_url: str) -> dict[str, str]:
    host = urlsplit(internal_url).hostname
    return {HOST_ALIAS: host} if host else {}


class LazyAgent:
    def __init__(self, state: agent_main.AgentState, data_dir: Path,
                 aliases: dict[str, str]) -> None:
        self.state = state
        self.data_dir = data_dir
        self.aliases = aliases
        self._agent: Agent | None = None
        self._lock = threading.Lock()

    def get(self) -> Agent:
        with self._lock:
            if self._agent is None:
                from osp.agent.internal import InternalApi
                from osp.agent.loop import Agent

                state = self.state
                internal = InternalApi(state.internal_url, state.tenant, state.instance_id,
                                       state.agent_key) if state.internal_url else None
                self._agent = Agent(state.tenant, self.data_dir, state.secrets,
                                    host_alias=self.aliases, internal=internal,
                                brand=state.brand, memory_key=state.memory_key)
            return self._agent


def make_handler(state: agent_main.AgentState,
                 agent: LazyAgent) -> type[BaseHTTPRequestHandler]:
    base = agent_main.make_handler(state)

    class Handler(base):  # type: ignore[valid-type,misc]
        def do_POST(self) -> None:
            presented = self.headers.get("Authorization", "").removeprefix("Bearer ")
            # Constant-time compare; an empty key never matches (fail closed).
            if not presented or not hmac.compare_digest(presented, state.status_key):
                self._send(401, {"error": "unauthorized"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY:
                self._send(413 if length > MAX_BODY else 400, {"error": "bad body size"})
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self._send(400, {"error": "body is not JSON"})
                return
            if not isinstance(body, dict):
                self._send(400, {"error": "body must be a JSON object"})
                return
            from osp.agent.routes import handle

            code, payload = handle(agent.get(), self.path, body)
            self._send(code, payload)

    return Handler


def serve(state: agent_main.AgentState, port: int) -> None:
    data_dir = Path(os.environ.get("OSP_DATA_DIR", "/data"))
    agent = LazyAgent(state, data_dir, host_alias(os.environ.get("OSP_INTERNAL_URL", "")))
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(state, agent))  # noqa: S104
    server.daemon_threads = True

    def _stop(signum: int, _frame: object) -> None:
        # PID 1 ignores SIGTERM unless it installs a handler.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    agent_main.log("agent.ready", tenant=state.tenant, secrets=len(state.secrets), port=port,
                   governed=True)
    server.serve_forever(poll_interval=0.5)
    agent_main.log("agent.stopped", tenant=state.tenant)
