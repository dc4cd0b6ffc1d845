"""A real OpenID provider (npm oidc-provider v8, tests/servers/) started once per session."""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from osp.oauth.service import OAuthBroker, ProviderInfo
from osp.oauth.wiring import ALLOW_LOOPBACK_ENV
from osp.platform import Platform
from osp.tenancy.service import TenantInfo

SERVERS = Path(__file__).resolve().parents[1] / "servers"
# Never contacted: the tests stop following redirects when the browser would go there.
REDIRECT_URI = "http://127.0.0.1:9/api/v1/oauth/callback"


@dataclass(frozen=True)
class OidcServer:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str

    def token(self, **form: str) -> httpx.Response:
        """A direct token-endpoint call as this client (what an interceptor would try)."""
        return httpx.post(f"{self.issuer}/token", data=form,
                          auth=(self.client_id, self.client_secret))

    def introspect(self, token: str) -> httpx.Response:
        return httpx.post(f"{self.issuer}/token/introspection", data={"token": token},
                          auth=(self.client_id, self.client_secret))

    def revoke(self, token: str, hint: str) -> httpx.Response:
        return httpx.post(f"{self.issuer}/token/revocation",
                          data={"token": token, "token_type_hint": hint},
                          auth=(self.client_id, self.client_secret))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    node = shutil.which("node")
    if node is None or not (SERVERS / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the test OpenID provider needs node and `npm install` in tests/servers "
                    "(scripts/setup.sh does both)")
    port = _free_port()
    server = OidcServer(f"http://127.0.0.1:{port}", "osp-test", secrets.token_urlsafe(24),
                        REDIRECT_URI)
    env = {**os.environ, "OIDC_CLIENT_ID": server.client_id,
           "OIDC_CLIENT_SECRET": server.client_secret, "OIDC_REDIRECT_URIS": REDIRECT_URI}
    log = (tmp_path_factory.mktemp("oidc") / "server.log").open("w")
    proc = subprocess.Popen([node, "oidc_server.mjs", str(port)], cwd=SERVERS, env=env,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 20
        line = ""
        while time.monotonic() < deadline and not line.startswith("ready"):
            if proc.poll() is not None:
                break
            if sel.select(timeout=0.5):
                line = proc.stdout.readline()
        if not line.startswith("ready"):
            pytest.fail(f"OpenID provider did not start (see {log.name})")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def follow(authorization_url: str, *, hint: str | None = None,
           redirect_uri: str = REDIRECT_URI) -> str:
    """Plays the browser: follows the provider's redirects (login and consent complete
    themselves) and returns the URL the provider finally sends the browser to."""
    url = authorization_url + (f"&login_hint={hint}" if hint else "")
    with httpx.Client() as browser:
        for _ in range(12):
            resp = browser.get(url)
            location = resp.headers.get("location")
            if resp.status_code not in (302, 303) or not location:
                raise AssertionError(f"provider answered {resp.status_code} without redirect")
            url = urljoin(str(resp.url), location)
            if url.startswith(redirect_uri):
                return url
    raise AssertionError("too many redirects")


@pytest.fixture(autouse=True)
def _loopback_servers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test provider listens on 127.0.0.1 over http: allowed only when asked for.
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")


@pytest.fixture
def broker(platform: Platform) -> Iterator[OAuthBroker]:
    b = OAuthBroker(platform.db, platform.vault, platform.audit, allow_loopback=True)
    yield b
    b.close()


@dataclass(frozen=True)
class Setup:
    tenant: TenantInfo
    provider: ProviderInfo

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.tenant.id


@pytest.fixture
def connected_tenant(broker: OAuthBroker, oidc: OidcServer,
                     make_tenant: Callable[..., TenantInfo]) -> Setup:
    tenant = make_tenant("oauth")
    provider = broker.add_provider(tenant.id, "idp", issuer=oidc.issuer,
                                   client_id=oidc.client_id, client_secret=oidc.client_secret,
                                   redirect_uri=oidc.redirect_uri, actor="test")
    return Setup(tenant, provider)


def audit_kinds(platform: Platform, tenant_id: uuid.UUID) -> list[str]:
    with platform.db.tenant(tenant_id) as s:
        return [e.kind for e in platform.audit.list(s, tenant_id, limit=1000)]


def audit_events(platform: Platform, tenant_id: uuid.UUID, kind: str) -> list[dict[str, object]]:
    with platform.db.tenant(tenant_id) as s:
        return [dict(e.details) for e in platform.audit.list(s, tenant_id, limit=1000)
                if e.kind == kind]
