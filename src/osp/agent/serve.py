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
"""

from __future__ import annotations

import hmac
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from osp.agent import main as agent_main
from osp.agent.channels.send import ChannelError, deliver
from osp.agent.config import ConfigError, parse_config
from osp.agent.knowledge import KnowledgeError
from osp.agent.loop import Agent, Request
from osp.agent.skills import SkillError

MAX_BODY = 4 * 1024 * 1024
HOST_ALIAS = "osp-host"  # the tenant network's gateway: host-local model servers (Ollama …)


class BadRequest(Exception):
    pass


def host_alias(internal_url: str) -> dict[str, str]:
    host = urlsplit(internal_url).hostname
    return {HOST_ALIAS: host} if host else {}


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadRequest(f"{key} must be a non-empty string of at most {limit} characters")
    return value


def dispatch(agent: Agent, path: str, body: dict[str, Any]) -> dict[str, Any]:
    if path == "/v1/messages":
        skill = body.get("skill")
        request = Request(
            message_id=_text(body, "message_id", 64), channel=_text(body, "channel", 16),
            user=_text(body, "user", 200), text=_text(body, "text", 32_000),
            config=parse_config(body.get("config") or {}),
            skill=skill if isinstance(skill, str) else None)
        return agent.handle(request).as_dict()
    if path.startswith("/v1/approvals/"):
        decision = body.get("decision")
        if decision not in ("approved", "denied", "expired"):
            raise BadRequest("decision must be approved, denied or expired")
        config = parse_config(body.get("config") or {})
        try:
            return agent.resume(path.removeprefix("/v1/approvals/"), decision, config).as_dict()
        except KeyError:
            raise LookupError("no such pending approval (already decided?)") from None
    if path == "/v1/deliver":
        config = parse_config(body.get("config") or {})
        reply_to = body.get("reply_to")
        if not isinstance(reply_to, dict):
            raise BadRequest("reply_to must be an object")
        urls = {"slack": config.channels.slack_api_url,
                "telegram": config.channels.telegram_api_url}
        try:
            return {"channel": deliver(reply_to, _text(body, "text", 40_000), agent.secrets, urls)}
        except ChannelError as exc:
            raise BadRequest(str(exc)) from None
    if path == "/v1/knowledge":
        return {"chunks": agent.knowledge.add(_text(body, "name", 100),
                                              _text(body, "content", MAX_BODY))}
    if path == "/v1/skills":
        skill = agent.skills.install(_text(body, "name", 40), _text(body, "content", 65536))
        return {"name": skill.name, "allowed_tools": skill.allowed_tools}
    raise LookupError("not found")


def make_handler(state: agent_main.AgentState, agent: Agent) -> type[BaseHTTPRequestHandler]:
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
                if not isinstance(body, dict):
                    raise BadRequest("body must be a JSON object")
                self._send(200, dispatch(agent, self.path, body))
            except (BadRequest, ConfigError, KnowledgeError, SkillError, ValueError) as exc:
                self._send(400, {"error": str(exc).splitlines()[0][:300]})
            except LookupError as exc:
                self._send(404, {"error": str(exc)})
            except Exception as exc:  # never a traceback to the caller; the log has the type
                agent_main.log("agent.error", error_type=type(exc).__name__, path=self.path)
                self._send(500, {"error": "internal error"})

    return Handler


def serve(state: agent_main.AgentState, agent: Agent, port: int) -> None:
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(state, agent))  # noqa: S104
    server.daemon_threads = True

    def _stop(signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    agent_main.log("agent.ready", tenant=state.tenant, secrets=len(state.secrets), port=port,
                   governed=True)
    server.serve_forever(poll_interval=0.5)
    agent_main.log("agent.stopped", tenant=state.tenant)


def main() -> None:
    try:
        state = agent_main.boot()
    except agent_main.BootError as exc:
        agent_main.log("agent.boot_failed", reason=str(exc))
        sys.exit(agent_main.EX_CONFIG)
    data_dir = Path(os.environ.get("OSP_DATA_DIR", "/data"))
    agent = Agent(state.tenant, data_dir, state.secrets,
                  host_alias=host_alias(os.environ.get("OSP_INTERNAL_URL", "")))
    serve(state, agent, int(os.environ.get("OSP_AGENT_PORT", "8080")))


if __name__ == "__main__":
    main()
