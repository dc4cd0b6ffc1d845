"""SSRF through authorization-server URLs: every spelling of an internal address is refused,
and the address a name *resolves* to is checked when the connection is made.

The attack the outside test used: ``https://127.1/``, ``https://2130706433/`` and
``https://0x7f000001/`` passed the literal-address filter and connected to loopback;
``https://0177.0.0.1/`` answered 500. Here a real listener on loopback counts every
connection that reaches it: a refused URL must not open one.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient

from osp.errors import InvalidInput
from osp.oauth.client import check_endpoint, discover
from osp.oauth.egress import EgressRefused, canonical_host, guarded_client
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.apps import admin_app

PASSWORD = "correct horse battery staple"

# Every way the outside test (and inet_aton) spells 127.0.0.1, plus other internal spots.
LOOPBACK_SPELLINGS = ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1",
                      "127.0.1", "017700000001", "[::ffff:127.0.0.1]", "[::1]", "0",
                      "0.0.0.0", "localhost", "LOCALHOST.", "[0:0:0:0:0:ffff:7f00:1]"]
INTERNAL_SPELLINGS = ["10.1", "0xa000005", "167772165", "0251.0376.0251.0376",
                      "[fe80::1]", "[::ffff:169.254.169.254]", "100.64.0.1"]


@contextmanager
def counting_listener() -> Iterator[tuple[int, list[int]]]:
    """A TCP listener on 127.0.0.1 that counts connections (and answers nothing)."""
    hits: list[int] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(1)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], hits
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS + INTERNAL_SPELLINGS)
def test_every_spelling_of_an_internal_address_is_refused_by_the_filter(host: str) -> None:
    with pytest.raises(InvalidInput):
        check_endpoint(f"https://{host}/", "issuer", allow_loopback=False)


@pytest.mark.parametrize("host", INTERNAL_SPELLINGS)
def test_internal_addresses_stay_refused_with_the_loopback_switch(host: str) -> None:
    with pytest.raises(InvalidInput):
        check_endpoint(f"https://{host}/", "issuer", allow_loopback=True)


@pytest.mark.parametrize(("host", "canonical"), [
    ("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"), ("[::ffff:7f00:1]", "127.0.0.1"), ("AS.Example.", "as.example"),
    ("cafe.be", "cafe.be"), ("1.2.3.4", "1.2.3.4")])
def test_hosts_are_canonicalised(host: str, canonical: str) -> None:
    assert canonical_host(host) == canonical


def test_a_strict_broker_never_connects_to_loopback_whatever_the_spelling(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant("ssrf")
    strict = OAuthBroker(platform.db, platform.vault, platform.audit)
    try:
        with counting_listener() as (port, hits):
            for host in LOOPBACK_SPELLINGS:
                with pytest.raises(InvalidInput):
                    strict.add_provider(tenant.id, "idp", issuer=f"https://{host}:{port}/",
                                        client_id="c", client_secret="s",
                                        redirect_uri="https://app.example/cb", actor="t")
            assert hits == []
    finally:
        strict.close()


def test_a_name_that_resolves_to_an_internal_address_is_refused_at_connect_time() -> None:
    # The machine's own name resolves (through /etc/hosts or DNS) to loopback or to a
    # private address: no filter on the URL's text can know that, the connector does.
    name = socket.gethostname()
    with counting_listener() as (port, hits), guarded_client(allow_loopback=False) as http:
        with pytest.raises(EgressRefused):
            http.get(f"http://{name}:{port}/.well-known/openid-configuration")
        with pytest.raises(EgressRefused):
            discover(http, f"https://{name}:{port}")
        assert hits == []


def test_the_dev_switch_still_allows_loopback_but_not_private_addresses() -> None:
    with counting_listener() as (port, hits), guarded_client(allow_loopback=True) as http:
        with pytest.raises(httpx.HTTPError):
            http.get(f"http://127.0.0.1:{port}/", timeout=1)  # reached: it answers nothing
        assert hits == [1]
        with pytest.raises(EgressRefused):
            http.get("http://10.0.0.5:9/", timeout=1)


def test_the_api_answers_4xx_for_every_spelling(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant("ssrfapi")
    platform.identity.create_user(tenant, "owner@example.com", PASSWORD, "owner", "t")
    app = admin_app(platform)
    strict = app.state.oauth_broker = OAuthBroker(platform.db, platform.vault, platform.audit)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            r = client.post("/api/v1/auth/login", json={
                "tenant": tenant.name, "email": "owner@example.com", "password": PASSWORD})
            csrf = {"x-csrf-token": r.json()["csrf_token"]}
            for host in LOOPBACK_SPELLINGS:
                response = client.post(
                    f"/api/v1/tenants/{tenant.name}/oauth/providers", headers=csrf,
                    json={"name": "idp", "issuer": f"https://{host}/", "client_id": "c",
                          "client_secret": "s", "redirect_uri": "https://app.example/cb"})
                assert 400 <= response.status_code < 500, (host, response.status_code)
                assert "error" in response.json()
    finally:
        strict.close()
