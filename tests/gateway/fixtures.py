"""Control-plane fixtures for gateway, approvals and channels tests (no container needed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from osp.app.agent import AgentParts, agent_routers, build_agent
from osp.gateway.interfaces import AgentEndpoint
from osp.gateway.service import GatewayOptions
from osp.platform import Platform
from tests.apps import admin_app


class ScriptedAgent:
    """Stands in for the tenant's container: every delivery gets ``outcome``; the bodies sent
    are kept in ``sent``. ``answering(reply)`` is a container that reports one allow."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        self.outcome = outcome
        self.sent: list[dict[str, Any]] = []

    @classmethod
    def answering(cls, reply: str) -> ScriptedAgent:
        return cls({"status": "answered", "reply": reply,
                    "audit": [{"stage": "input", "rail": "input.pii", "action": "allow"}]})

    def locate(self, tenant: str) -> AgentEndpoint:
        return AgentEndpoint("http://agent.invalid", "k", "i")

    def forget(self, tenant: str) -> None:
        return None

    def expected(self, tenant_id: uuid.UUID) -> bool:
        return True

    def post(self, endpoint: AgentEndpoint, path: str, body: dict[str, Any],
             timeout_s: float) -> dict[str, Any]:
        self.sent.append(body)
        return self.outcome


class NoAgent:
    """The tenant's agent is not running (no container): what a stopped tenant looks like."""

    def locate(self, tenant: str) -> AgentEndpoint | None:
        return None

    def forget(self, tenant: str) -> None:
        return None

    def expected(self, tenant_id: uuid.UUID) -> bool:
        return False


@pytest.fixture
def parts(platform: Platform) -> AgentParts:
    return build_agent(platform, locator=NoAgent(),
                       options=GatewayOptions(redeliver_window_s=0.3, poll_s=0.1))


@pytest.fixture
def client(platform: Platform, parts: AgentParts) -> Iterator[TestClient]:
    with TestClient(admin_app(platform, *agent_routers(parts))) as c:
        yield c
