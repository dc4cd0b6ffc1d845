"""Fixtures for the governed agent: a scripted model server and, for ``podman`` tests, the real
stack (agent image with its dependencies, Podman backend, internal API, gateway).

Everything runs under its own prefix (``osa<k>``), address pool (a /20 of 10.215.0.0/16) and
nft table, claimed per test session, apart from the runtime tests and a developer's ``osp``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from osp.app.agent import (
    AgentParts,
    agent_routers,
    build_agent,
    connected_app_router,
    scoring_router,
)
from osp.errors import NotFound
from osp.gateway.service import GatewayOptions
from osp.identity.scopes import ROLE_SCOPES
from osp.identity.service import Principal
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.release.build import BuiltImage
from osp.release.smoke import smoke_model_router
from osp.runtime.podman import PodmanBackend, PodmanSettings
from osp.runtime.service import FixedImage
from osp.runtime.wiring import (
    RuntimeParts,
    agent_image_builder,
    build_runtime,
    internal_app,
)
from osp.tenancy.service import TenantInfo
from tests import fakes
from tests.agent.scripted import ScriptedModel
from tests.apps import admin_app
from tests.prereqs import CONTAINER_TOOLS, require_root_and
from tests.runtime.conftest import purge
from tests.slots import claim_slot, free_port

CACHE_DIR = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))
MODEL_KEY = fakes.model_key()


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    """A scripted model on loopback, for in-process tests."""
    m = ScriptedModel()
    server = m.start()
    yield m
    server.shutdown()


@pytest.fixture(scope="session")
def governed_image() -> BuiltImage:
    require_root_and(*CONTAINER_TOOLS)
    return agent_image_builder(CACHE_DIR).build(reuse=True)


@pytest.fixture(scope="session")
def host_model() -> Iterator[ScriptedModel]:
    """The scripted model on all addresses: tenant containers reach it through their gateway."""
    m = ScriptedModel(port=free_port())
    server = m.start("0.0.0.0")
    yield m
    server.shutdown()


@dataclass
class Stack:
    platform: Platform
    backend: PodmanBackend
    runtime: RuntimeParts
    agent: AgentParts
    model: ScriptedModel
    client: TestClient

    def token(self, tenant: TenantInfo, scopes: list[str] | None = None) -> str:
        user_id = self.platform.identity.create_user(
            tenant, f"owner-{uuid.uuid4().hex[:6]}@example.com", "correct horse battery 9",
            "owner", "test")
        owner = Principal(tenant.id, user_id, "owner", "session",
                          scopes=ROLE_SCOPES["owner"])
        _id, token = self.platform.identity.create_token(
            owner, "test", scopes or sorted(ROLE_SCOPES["owner"]), None)
        return token

    def chat(self, tenant: TenantInfo, token: str, text: str, **extra: Any) -> Any:
        return self.client.post(f"/api/v1/tenants/{tenant.name}/messages",
                                json={"text": text, **extra},
                                headers={"Authorization": f"Bearer {token}"})

    def configure(self, tenant: TenantInfo, **document: Any) -> None:
        self.agent.settings.set_document(tenant.id, document, "test")

    def audit(self, tenant: TenantInfo) -> list[tuple[str, dict[str, Any]]]:
        with self.platform.db.tenant(tenant.id) as s:
            return [(e.kind, e.details) for e in self.platform.audit.list(s, tenant.id, 500)]

    def decisions(self, tenant: TenantInfo) -> list[dict[str, Any]]:
        return [d for kind, details in self.audit(tenant) if kind == "governance.turn"
                for d in details["decisions"]]




@pytest.fixture(scope="session")
def stack(platform: Platform, governed_image: BuiltImage,
          host_model: ScriptedModel) -> Iterator[Stack]:
    port = free_port()
    prefix, pool, lock = claim_slot("osa", 215)
    backend = PodmanBackend(PodmanSettings(prefix=prefix, pool=pool, internal_api_port=port))
    purge(backend)  # what a crashed earlier session of this slot left behind
    runtime = build_runtime(platform, backend=backend,
                            images=FixedImage(governed_image.image_id,
                                              governed_image.governance_version))
    runtime.internal_port = port  # where the agents reach the internal API (and smoke model)
    agent = build_agent(platform, runtime,
                        options=GatewayOptions(redeliver_window_s=30, poll_s=0.2,
                                               agent_timeout_s=60))
    broker = OAuthBroker(platform.db, platform.vault, platform.audit,
                         # the test provider is on loopback: the development switch
                         allow_loopback=True)
    internal = internal_app(runtime, [connected_app_router(platform, runtime, agent, broker),
                                      scoring_router(platform, runtime, agent),
                                      smoke_model_router()])
    server = uvicorn.Server(uvicorn.Config(internal, host="0.0.0.0", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    app = admin_app(platform, *agent_routers(agent))
    with TestClient(app) as client:
        yield Stack(platform, backend, runtime, agent, host_model, client)
    server.should_exit = True
    thread.join(timeout=5)
    broker.close()
    purge(backend)
    lock.close()


@pytest.fixture
def live_tenant(stack: Stack) -> Iterator[Callable[..., TenantInfo]]:
    """Creates a tenant whose agent runs in its own container, pointed at the scripted model
    (reachable on the host as ``osp-host``) with MODEL_API_KEY in the vault."""
    made: list[TenantInfo] = []

    def make(prefix: str = "ag", key: str = MODEL_KEY, secrets: dict[str, str] | None = None,
             host_ports: tuple[int, ...] = ()) -> TenantInfo:
        p = stack.platform
        tenant = p.tenants.create(f"{prefix}-{uuid.uuid4().hex[:8]}", "test")
        made.append(tenant)
        with p.db.tenant(tenant.id) as s:
            for name, value in {"MODEL_API_KEY": key, **(secrets or {})}.items():
                p.vault.put(s, tenant.id, name, value.encode(), "test")
        stack.agent.settings.set_model(tenant.id, "openai",
                                       f"http://osp-host:{stack.model.port}/v1", "scripted",
                                       "test")
        stack.runtime.service.set_limits(tenant, "test",
                                         host_ports=(stack.model.port, *host_ports))
        stack.runtime.service.start(tenant, "test")
        return tenant

    yield make
    for tenant in made:
        with contextlib.suppress(Exception):
            stack.backend.remove(tenant.name, purge_data=True)
        with contextlib.suppress(NotFound):
            stack.platform.tenants.delete(tenant, "test")
