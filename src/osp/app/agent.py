"""The agent features (gateway, approvals, channels, connected-app routes), built together
because they use each other; only the composition root (:mod:`osp.app`) calls this."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import APIRouter

from osp.approvals.api import build_approvals_router
from osp.approvals.service import ApprovalService, PendingApprovals
from osp.channels.api import build_channels_router
from osp.channels.service import ChannelService
from osp.gateway.api import build_gateway_router
from osp.gateway.client import HttpTransport, RuntimeLocator
from osp.gateway.interfaces import AgentLocator, AgentTransport
from osp.gateway.protect import MessageProtection
from osp.gateway.rails import GatewayRails
from osp.gateway.scoring import build_scoring_router
from osp.gateway.service import GatewayOptions, GatewayService
from osp.gateway.settings import AgentSettings
from osp.oauth.agent_api import ConnectedPolicy, build_agent_router
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.runtime.wiring import RuntimeParts, agent_authenticator


@dataclass
class AgentParts:
    settings: AgentSettings
    gateway: GatewayService
    approvals: ApprovalService
    channels: ChannelService


def build_agent(platform: Platform, runtime: RuntimeParts | None = None, *,
                locator: AgentLocator | None = None, transport: AgentTransport | None = None,
                options: GatewayOptions | None = None) -> AgentParts:
    if locator is None:
        if runtime is None:
            raise ValueError("build_agent needs the runtime parts or a locator")
        locator = RuntimeLocator(runtime)
    settings = AgentSettings(platform.db, platform.audit)
    protection = MessageProtection(platform.db, platform.vault, platform.audit)
    # One scorer (the semantic tier's encoder) for the whole control plane, loaded on the
    # first message that needs it; the gateway runs the input/output semantic rails with it.
    gateway = GatewayService(platform.db, platform.audit, settings, locator,
                             transport or HttpTransport(),
                             PendingApprovals(platform.audit, protection),
                             options, protection=protection, rails=GatewayRails())
    approvals = ApprovalService(platform.db, platform.tenants, platform.audit, gateway)
    channels = ChannelService(platform.db, platform.tenants, platform.vault, gateway,
                              platform.unproven)
    return AgentParts(settings, gateway, approvals, channels)


def connected_app_router(platform: Platform, runtime: RuntimeParts, parts: AgentParts,
                         broker: OAuthBroker, *, cache_s: float = 2.0) -> APIRouter:
    """The internal API's connected-app routes for booted agents, held to each tenant's
    current policy and approvals (see ``osp.oauth.agent_api``)."""
    def policy_of(tenant_id: uuid.UUID) -> ConnectedPolicy:
        config = parts.settings.get(tenant_id)
        tools = config.governance_policy().tools
        return ConnectedPolicy(frozenset(tools.allowed), frozenset(tools.approval_required),
                               dict(config.tools.connected.api_base))

    return build_agent_router(broker, agent_authenticator(platform, runtime, cache_s),
                              policy_of, parts.approvals.claim)


def scoring_router(platform: Platform, runtime: RuntimeParts, parts: AgentParts, *,
                   cache_s: float = 2.0) -> APIRouter:
    """The internal API's shared-scorer route for the rails that stay inside the agent
    (retrieval), on the same encoder the gateway uses (see ``osp.gateway.scoring``)."""
    return build_scoring_router(parts.gateway.rails,
                                agent_authenticator(platform, runtime, cache_s))


def agent_routers(parts: AgentParts) -> list[APIRouter]:
    return [build_gateway_router(parts.gateway), build_approvals_router(parts.approvals),
            build_channels_router(parts.channels)]
