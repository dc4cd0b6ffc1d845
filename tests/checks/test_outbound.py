"""The agent's outgoing HTTP never carries a credential along a redirect, ignores proxy
variables and caps what it reads. Real HTTP servers on loopback: the one the agent calls
redirects to a second one on another loopback address (another host)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from osp.agent.internal import InternalApi
from osp.agent.main import BootError, exchange
from osp.agent.providers.base import ProviderError
from osp.agent.providers.http import RetryPolicy, post_json
from osp.agent.tools.registry import ToolError
from osp.checks.outbound import TooLarge, Unreachable, fetch
from osp.oauth.tools import PreparedCall, urllib_send

KEY = "fake-agent-key-0123456789abcdef"
Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Server:
    url: str
    seen: list[dict[str, str]] = field(default_factory=list)


@contextlib.contextmanager
def serving(host: str, answer: Answer) -> Iterator[Server]:
    server_box: list[Server] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            server_box[0].seen.append({"path": self.path, "method": self.command,
                                       **{k.lower(): v for k, v in self.headers.items()}})
            answer(self)

        do_GET = do_POST = _any

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer((host, 0), Handler)
    server_box.append(Server(f"http://{host}:{httpd.server_address[1]}"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_box[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        raw = json.dumps(body).encode()
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)
    return answer


@pytest.fixture
def elsewhere() -> Iterator[Server]:
    """Another host (127.0.0.2): it answers everything with a harmless JSON object."""
    with serving("127.0.0.2", _json(200, {"secrets": {}, "status_key": "s",
                                          "agent_key": "a", "choices": []})) as server:
        yield server


@pytest.fixture
def redirector(elsewhere: Server) -> Iterator[Server]:
    """What the agent calls: it redirects every request to the other host."""
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", elsewhere.url + "/collect" + h.path)
        h.send_header("Content-Length", "0")
        h.end_headers()
    with serving("127.0.0.1", answer) as server:
        yield server


def _no_credential_reached(elsewhere: Server) -> None:
    leaked = [s for s in elsewhere.seen if KEY in json.dumps(s)]
    assert leaked == []
    assert elsewhere.seen == []  # the redirect is not followed at all


def test_internal_api_does_not_follow_a_redirect(redirector: Server, elsewhere: Server) -> None:
    api = InternalApi(redirector.url, "acme", "i-1", KEY)
    with pytest.raises(ToolError, match="302"):
        api.connections()
    assert redirector.seen and redirector.seen[0]["authorization"] == f"Bearer {KEY}"
    _no_credential_reached(elsewhere)


def test_model_provider_call_does_not_follow_a_redirect(redirector: Server,
                                                        elsewhere: Server) -> None:
    with pytest.raises(ProviderError, match="302"):
        post_json(redirector.url + "/v1/chat/completions", {"Authorization": f"Bearer {KEY}"},
                  {"model": "m"}, RetryPolicy(timeout_s=5, retries=0), "the model provider")
    _no_credential_reached(elsewhere)


def test_bootstrap_exchange_does_not_follow_a_redirect(redirector: Server,
                                                       elsewhere: Server) -> None:
    with pytest.raises(BootError, match="302"):
        exchange(redirector.url, KEY, "acme", "i-1")
    _no_credential_reached(elsewhere)


def test_connected_app_call_does_not_follow_a_redirect(redirector: Server,
                                                       elsewhere: Server) -> None:
    status, _body = urllib_send(PreparedCall("GET", redirector.url + "/gmail/v1/x",
                                             {"Authorization": f"Bearer {KEY}"}, None))
    assert status == 302
    _no_credential_reached(elsewhere)


def test_proxy_variables_are_ignored(monkeypatch: pytest.MonkeyPatch, elsewhere: Server) -> None:
    with serving("127.0.0.1", _json(200, {"ok": True})) as target:
        for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(var, elsewhere.url)
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(var, raising=False)
        answer = fetch("GET", target.url + "/x", headers={"Authorization": f"Bearer {KEY}"},
                       timeout=5, max_bytes=1024)
        assert answer.status == 200 and json.loads(answer.body) == {"ok": True}
        assert len(target.seen) == 1
    _no_credential_reached(elsewhere)


def test_an_oversized_answer_is_refused() -> None:
    big = {"data": "x" * 5000}
    with serving("127.0.0.1", _json(200, big)) as target:
        with pytest.raises(TooLarge):
            fetch("GET", target.url, timeout=5, max_bytes=1000)
        assert json.loads(fetch("GET", target.url, timeout=5, max_bytes=10_000).body) == big


def test_an_unreachable_host_is_one_typed_error() -> None:
    with serving("127.0.0.1", _json(200, {})) as target:
        url = target.url
    with pytest.raises(Unreachable) as caught:
        fetch("GET", url, timeout=2, max_bytes=10)
    assert caught.value.connect_failed
