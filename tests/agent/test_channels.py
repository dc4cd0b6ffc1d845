"""A Slack message end to end: signed event -> gateway -> the tenant's container -> rails ->
model -> audit -> the agent posts the reply with the bot token it got at boot."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from osp.channels.service import slack_signature
from osp.tenancy.service import TenantInfo
from tests import fakes
from tests.agent.conftest import Stack
from tests.agent.scripted import say
from tests.slots import free_port

pytestmark = pytest.mark.podman

BOT_TOKEN = fakes.slack_bot_token()
SIGNING = "slack-signing-secret-for-tests"


class _SlackApi(BaseHTTPRequestHandler):
    posted: ClassVar[list[tuple[str, str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).posted.append((self.path, self.headers.get("Authorization", ""), body))
        data = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def slack_api() -> Iterator[int]:
    server = ThreadingHTTPServer(("0.0.0.0", free_port()), _SlackApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _SlackApi.posted = []
    yield int(server.server_address[1])
    server.shutdown()


def test_a_slack_message_is_answered_in_its_thread(
        stack: Stack, live_tenant: Callable[..., TenantInfo], slack_api: int) -> None:
    tenant = live_tenant(secrets={"SLACK_SIGNING_SECRET": SIGNING, "SLACK_BOT_TOKEN": BOT_TOKEN},
                         host_ports=(slack_api,))
    stack.configure(tenant, channels={"slack_api_url": f"http://osp-host:{slack_api}/api"})
    stack.model.reset(say("We open at 9, bob@example.com can tell you more."))
    body = json.dumps({"type": "event_callback", "event_id": "EvS1", "event": {
        "type": "message", "user": "U7", "text": "when do you open?", "channel": "C42",
        "ts": "1700000000.000100"}}).encode()
    stamp = str(int(time.time()))

    r = stack.client.post(f"/api/v1/channels/slack/{tenant.name}/events", content=body,
                          headers={"X-Slack-Request-Timestamp": stamp,
                                   "X-Slack-Signature": slack_signature(SIGNING.encode(),
                                                                        stamp, body)})
    stack.agent.channels.wait_idle()

    assert r.status_code == 200, r.text
    assert len(_SlackApi.posted) == 1
    path, auth, posted = _SlackApi.posted[0]
    assert path == "/api/chat.postMessage" and auth == f"Bearer {BOT_TOKEN}"
    assert posted == {"channel": "C42", "thread_ts": "1700000000.000100",
                      "text": "We open at 9, <EMAIL_ADDRESS> can tell you more."}
    turn = [d for k, d in stack.audit(tenant) if k == "governance.turn"][-1]
    assert turn["channel"] == "slack" and turn["stages"]["output"] == "alter"


def test_a_telegram_message_is_answered_in_its_chat(
        stack: Stack, live_tenant: Callable[..., TenantInfo], slack_api: int) -> None:
    bot_token = "123456:" + "T" * 30
    tenant = live_tenant(secrets={"TELEGRAM_WEBHOOK_SECRET": "tg-hook-secret",
                                  "TELEGRAM_BOT_TOKEN": bot_token}, host_ports=(slack_api,))
    stack.configure(tenant, channels={"telegram_api_url": f"http://osp-host:{slack_api}"})
    stack.model.reset(say("Hello from the agent."))
    update = {"update_id": 9001, "message": {"text": "hi there", "chat": {"id": 777},
                                             "from": {"id": 5, "is_bot": False}}}

    r = stack.client.post(f"/api/v1/channels/telegram/{tenant.name}/webhook", json=update,
                          headers={"X-Telegram-Bot-Api-Secret-Token": "tg-hook-secret"})
    stack.agent.channels.wait_idle()

    assert r.status_code == 200, r.text
    path, _auth, posted = _SlackApi.posted[0]
    assert path == f"/bot{bot_token}/sendMessage"
    assert posted == {"chat_id": 777, "text": "Hello from the agent."}
