"""The internal API's connected-app routes for booted agents (mounted on the internal listener).

The tenant's policy is enforced here, on the control plane, not only by the rails inside
the agent's container (which a compromised agent could skip):

* ``POST /internal/v1/oauth/token`` hands out an access token only for a scope that some
  tool the policy allows *without approval* needs. A scope only approval tools use (mail
  sending) is never handed to the agent at all.
* ``POST /internal/v1/oauth/tools/{name}/run`` runs an approval tool's call on the control
  plane, and only as the person approved it: the approval must be this tenant's, approved,
  unused, recent, for this tool and these exact arguments (``ApprovalService.claim``); the
  control plane also picks the connection (``osp.oauth.tools.pick_connection``).

``GET /internal/v1/oauth/connections`` lists the tenant's connections (no token values).
Every route first proves which tenant's agent is calling (``authenticate``); the refresh
token is never part of any answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request

from osp.errors import Forbidden, InvalidInput, NotFound
from osp.oauth.egress import client_send, guarded_client
from osp.oauth.refresh import BrokerTokens, access_token
from osp.oauth.schemas import (
    AgentConnectionOut,
    AgentRunIn,
    AgentRunOut,
    AgentTokenIn,
    AgentTokenOut,
)
from osp.oauth.service import OAuthBroker
from osp.oauth.tools import (
    MAX_RESULT,
    TIMEOUT_S,
    ConnectionView,
    ToolExecutor,
    ToolSpec,
    argument_problems,
    load_tools,
    pick_connection,
)

HOST_ALIAS = "osp-host"  # in a stand-in URL: the host, which is loopback from here


@dataclass(frozen=True)
class ConnectedPolicy:
    """What a tenant's agent configuration allows its agent to do with connected apps."""

    allowed: frozenset[str]
    approval_required: frozenset[str]
    api_base: Mapping[str, str] = field(default_factory=dict)

    def needs_approval(self, spec: ToolSpec) -> bool:
        return spec.approval or spec.name in self.approval_required

    def token_scope_allowed(self, scope: str) -> bool:
        return any(spec.scope == scope and spec.name in self.allowed and
                   not self.needs_approval(spec) for spec in load_tools().values())


AgentAuth = Callable[[Request], uuid.UUID]
PolicyOf = Callable[[uuid.UUID], ConnectedPolicy]
# (tenant id, approval id, tool, arguments, actor): spends the approval or raises.
ClaimApproval = Callable[[uuid.UUID, uuid.UUID, str, dict[str, Any], str], None]


def build_agent_router(broker: OAuthBroker, authenticate: AgentAuth, policy_of: PolicyOf,
                       claim: ClaimApproval) -> APIRouter:
    agent = APIRouter(prefix="/internal/v1/oauth", tags=["oauth"])
    stand_in_http = guarded_client(allow_loopback=True)

    def tenant_dep(request: Request) -> uuid.UUID:
        return authenticate(request)

    # Defaults rather than Annotated[...]: the dependency is local to this builder, and
    # string annotations (future import) could not name it.
    @agent.get("/connections", response_model=list[AgentConnectionOut])
    def connections(tenant_id: uuid.UUID = Depends(tenant_dep),  # noqa: B008
                    ) -> list[AgentConnectionOut]:
        return [AgentConnectionOut(id=c.id, provider=c.provider, status=c.status,
                                   scopes=c.granted_scopes)
                for c in broker.list_connections(tenant_id)]

    @agent.post("/token", response_model=AgentTokenOut)
    def token(body: AgentTokenIn,
              tenant_id: uuid.UUID = Depends(tenant_dep),  # noqa: B008
              ) -> AgentTokenOut:
        if not policy_of(tenant_id).token_scope_allowed(body.scope):
            raise Forbidden(f"no tool this agent may run without approval needs the scope "
                            f"{body.scope[:80]!r}")
        grant = access_token(broker, tenant_id, body.connection_id, body.scope, "agent",
                             force_refresh=body.force_refresh)
        return AgentTokenOut(access_token=grant.access_token, expires_at=grant.expires_at,
                             scope=grant.scope)

    @agent.post("/tools/{name}/run", response_model=AgentRunOut)
    def run(name: str, body: AgentRunIn,
            tenant_id: uuid.UUID = Depends(tenant_dep),  # noqa: B008
            ) -> AgentRunOut:
        spec = load_tools().get(name)
        if spec is None:
            raise NotFound(f"no connected-app tool named {name[:80]!r}")
        policy = policy_of(tenant_id)
        if spec.name not in policy.allowed:
            raise Forbidden(f"{name} is not allowed by this tenant's policy")
        if not policy.needs_approval(spec):
            raise InvalidInput(f"{name} needs no approval: the agent runs it with a token")
        problems = argument_problems(spec, body.arguments)
        if problems:  # checked before the approval is spent on a call that cannot run
            raise InvalidInput(f"{name}: " + "; ".join(problems))
        # The connection is picked here too, not taken from the agent: an approved call acts
        # in the account the rule selects, not in one a compromised agent names. Picked
        # before the approval is spent, so an ambiguity does not use it up.
        connection = pick_connection(spec, [
            ConnectionView(c.id, c.provider, c.status, tuple(c.granted_scopes))
            for c in broker.list_connections(tenant_id)])
        actor = f"approval:{body.approval_id}"
        claim(tenant_id, body.approval_id, name, body.arguments, actor)
        prefixes = {origin: url.replace(HOST_ALIAS, "127.0.0.1", 1)
                    for origin, url in policy.api_base.items()}
        # Through the guarded connector like every call made for a tenant. A stand-in
        # (validated to osp-host, i.e. this host) is loopback on purpose; internal ranges
        # stay refused either way.
        http = stand_in_http if prefixes else broker.http
        executor = ToolExecutor(BrokerTokens(broker, tenant_id, actor), prefixes,
                                send=client_send(http, max_bytes=MAX_RESULT, timeout_s=TIMEOUT_S))
        result = executor.execute(name, connection, body.arguments, approved=True)
        return AgentRunOut(status=result.status, data=result.data)

    return agent
