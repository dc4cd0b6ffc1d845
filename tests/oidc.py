"""A real OpenID provider (npm oidc-provider v8, tests/servers/) for the OAuth tests.

It listens on every address: tenant containers reach its stand-in provider APIs
(``/fake/...``) through their network's gateway (``osp-host``). The issuer stays the
loopback URL the control plane uses.
"""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.slots import free_port

SERVERS = Path(__file__).resolve().parent / "servers"
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



@contextmanager
def running_oidc(log_dir: Path, redirect_uri: str = REDIRECT_URI) -> Iterator[OidcServer]:
    node = shutil.which("node")
    if node is None or not (SERVERS / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the test OpenID provider needs node and `npm install` in tests/servers "
                    "(scripts/setup.sh does both)")
    port = free_port()
    server = OidcServer(f"http://127.0.0.1:{port}", "osp-test", secrets.token_urlsafe(24),
                        redirect_uri)
    env = {**os.environ, "OIDC_CLIENT_ID": server.client_id,
           "OIDC_CLIENT_SECRET": server.client_secret, "OIDC_REDIRECT_URIS": redirect_uri}
    log = (log_dir / "server.log").open("w")
    proc = subprocess.Popen([node, "oidc_server.mjs", str(port), "0.0.0.0"], cwd=SERVERS,
                            env=env,
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
