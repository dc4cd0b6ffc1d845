"""Fixtures for the console: the admin app with the console mounted as the composition root
mounts it, served by uvicorn on loopback, and Debian's chromium driven by Playwright.

Without a container engine the agent is simply not running (the locator finds none), which
is what every page but chat and approvals needs; the chat/approval flow uses the agent
tests' real ``stack`` (see test_agent_flow.py).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import uvicorn
from fastapi import FastAPI

from osp.app.agent import AgentParts, agent_routers, build_agent
from osp.console import ConsoleServices, build_console
from osp.gateway.interfaces import AgentEndpoint
from osp.gateway.service import GatewayOptions
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.runtime.service import RuntimeService
from osp.tenancy.service import TenantInfo
from tests.agent.conftest import governed_image, host_model, live_tenant, stack  # noqa: F401
from tests.apps import admin_app

# The agent tests' real stack (container engine, agent image, scripted model), reused as is.
from tests.prereqs import unavailable
from tests.slots import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
PASSWORD = "correct horse battery staple 7"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"


class NoAgent:
    """No container engine here: every tenant's agent is not running."""

    def locate(self, tenant: str) -> AgentEndpoint | None:
        return None

    def forget(self, tenant: str) -> None:
        return None

    def expected(self, tenant_id: uuid.UUID) -> bool:
        return False


def console_app(platform: Platform, parts: AgentParts, runtime: RuntimeService | None,
                broker: OAuthBroker | None) -> FastAPI:
    """What ``App.admin_app`` serves: the API routers plus the console mounted on them."""
    app = admin_app(platform, *agent_routers(parts))
    app.mount("/console", build_console(ConsoleServices(platform, parts.gateway,
                                                        parts.approvals, runtime, broker)))
    return app


@dataclass
class Served:
    url: str  # http://localhost:<port>
    app: FastAPI

    def console(self, path: str) -> str:
        return f"{self.url}/console{path}"


def serve(app: FastAPI) -> Iterator[Served]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    # "localhost": a secure context for the browser, so Secure cookies work over plain HTTP.
    yield Served(f"http://localhost:{port}", app)
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def quiet_agent(platform: Platform) -> AgentParts:
    return build_agent(platform, locator=NoAgent(),
                       options=GatewayOptions(redeliver_window_s=0, poll_s=0.05))


@pytest.fixture(scope="session")
def site(platform: Platform, quiet_agent: AgentParts) -> Iterator[Served]:
    broker = OAuthBroker(platform.db, platform.vault, platform.audit, allow_loopback=True)
    yield from serve(console_app(platform, quiet_agent, None, broker))
    broker.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} missing: scripts/setup.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15_000)
    yield p
    context.close()


@dataclass
class Person:
    tenant: TenantInfo
    email: str
    role: str
    password: str = PASSWORD
    seed: str | None = None

    def code(self, ahead: int = 0) -> str:
        """A TOTP code ``ahead`` steps from now (a code at or before the last accepted step
        is a replay, so a second sign-in within 30 s uses the next step's code)."""
        assert self.seed is not None
        return str(pyotp.TOTP(self.seed).at(time.time() + 30 * ahead))


@pytest.fixture
def person(platform: Platform, make_tenant: Callable[..., TenantInfo]
           ) -> Callable[..., Person]:
    def make(role: str = "owner", tenant: TenantInfo | None = None) -> Person:
        tenant = tenant or make_tenant("con")
        email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
        platform.identity.create_user(tenant, email, PASSWORD, role, "test")
        return Person(tenant, email, role)

    return make


def sign_in(page: Any, site: Served, who: Person) -> None:
    """Password sign-in in the browser (a person without TOTP lands on the overview)."""
    page.goto(site.console("/login"))
    page.get_by_label("Tenant").fill(who.tenant.name)
    page.get_by_label("Email").fill(who.email)
    page.get_by_label("Password").fill(who.password)
    page.get_by_role("button", name="Sign in").click()
    try:
        page.wait_for_url(re.compile(r".*/console/(t/.*/overview|login/second-factor|enrol)$"))
    except Exception:
        print("URL", page.url, page.content()[:3000])
        raise


@dataclass
class HttpSession:
    """A signed-in session driven without a browser (for direct POSTs)."""

    client: httpx.Client
    csrf: str

    def post(self, url: str, data: dict[str, Any] | None = None, *,
             csrf: str | None = "default", **kw: Any) -> httpx.Response:
        body = dict(data or {})
        if csrf == "default":
            body["csrf"] = self.csrf
        elif csrf is not None:
            body["csrf"] = csrf
        return self.client.post(url, data=body, **kw)


def http_session(site: Served, who: Person) -> HttpSession:
    client = httpx.Client(base_url=site.url, follow_redirects=False, timeout=30)
    r = client.post("/console/login", data={"tenant": who.tenant.name, "email": who.email,
                                            "password": who.password})
    assert r.status_code == 303, r.text
    session, csrf = r.cookies["osp_session"], r.cookies["osp_csrf"]
    # The cookies are Secure; httpx would not send them over plain HTTP, a browser on
    # localhost does. Send them as the browser would.
    client.headers["cookie"] = f"osp_session={session}; osp_csrf={csrf}"
    return HttpSession(client, csrf)


def shot(page: Any, name: str) -> None:
    """A screenshot for docs/console.md (only when OSP_CONSOLE_SHOTS=1: they are committed,
    not rewritten by every test run)."""
    if os.environ.get("OSP_CONSOLE_SHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
