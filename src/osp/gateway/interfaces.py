"""What the gateway needs from the runtime: where a tenant's agent listens, and its key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from osp.tenancy.service import TenantInfo


@dataclass(frozen=True)
class AgentEndpoint:
    url: str  # http://<container address on the tenant's own network>:<port>
    key: str = field(repr=False)  # per-instance key the agent got at its bootstrap exchange
    instance_id: str
    # The policy schema the agent's image reads (its osp.policy.schema label); the transport
    # sends no policy to an agent on another one (governance lockstep).
    policy_schema: str = ""


class AgentLocator(Protocol):
    def locate(self, tenant: str) -> AgentEndpoint | None:
        """The running agent of ``tenant``, or None when it is not running."""

    def forget(self, tenant: str) -> None:
        """Drop any cached endpoint (after a failed delivery: the instance may be new)."""

    def expected(self, tenant_id: uuid.UUID) -> bool:
        """Whether the tenant's agent is meant to run (desired state), whatever it does now.
        A stopped agent is not waited for: the message fails at once."""


class AgentTransport(Protocol):
    def post(self, endpoint: AgentEndpoint, path: str, body: dict[str, Any],
             timeout_s: float) -> dict[str, Any]: ...


class Unreachable(Exception):
    """The agent could not be reached or dropped the connection; delivery may be retried."""


class Rejected(Exception):
    """The agent answered with an error; retrying the same request would not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApprovalRecorder(Protocol):
    """Where a tool call the agent paused for a person's decision is queued (the approvals
    package implements it; the gateway only hands the request over, in its transaction)."""

    def add(self, s: Session, tenant: TenantInfo, message_id: uuid.UUID,
            approval: dict[str, Any]) -> None: ...
