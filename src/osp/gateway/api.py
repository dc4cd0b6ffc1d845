"""Routes: chat with a tenant's agent, read a message's status, manage the agent's settings
and knowledge. Thin: parse, authorise, call the service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from osp.gateway.service import GatewayService
from osp.inputs import CleanJson, InputModel
from osp.web.deps import PlatformDep, PrincipalDep, tenant_of


class MessageIn(InputModel):
    text: str = Field(min_length=1, max_length=32_000)
    skill: str | None = Field(default=None, max_length=40)


class ModelIn(InputModel):
    provider: str = Field(max_length=16)
    base_url: str | None = Field(default=None, max_length=2000)
    model: str = Field(min_length=1, max_length=200)


class RetentionIn(InputModel):
    days: int | None = Field(default=None, ge=1, le=3650,
                             description="Days messages are kept; null keeps them")


class KnowledgeIn(InputModel):
    name: str = Field(min_length=1, max_length=100)
    content: str = Field(min_length=1, max_length=2 * 1024 * 1024)



def build_gateway_router(gateway: GatewayService) -> APIRouter:
    router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["agent"])

    @router.post("/messages")
    async def send(tenant: str, body: MessageIn, platform: PlatformDep,
                   principal: PrincipalDep) -> dict[str, Any]:
        principal.require("chat")
        # Each user has their own conversation memory; a token acts as its creator.
        user = principal.chat_user

        def turn() -> dict[str, Any]:
            info = tenant_of(platform, principal, tenant)
            return gateway.send(info, "api", user, body.text, skill=body.skill).as_dict()

        # Off the shared worker pool, capped per tenant (see osp.gateway.limits).
        return await gateway.limits.run(principal.tenant_id, turn)

    @router.get("/messages")
    def recent(tenant: str, platform: PlatformDep, principal: PrincipalDep,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[dict[str, Any]]:
        principal.require("chat")
        info = tenant_of(platform, principal, tenant)
        sender = None if principal.sees_all_users else ("api", principal.chat_user)
        return gateway.recent(info, sender, limit)

    @router.get("/messages/{message_id}")
    def show(tenant: str, message_id: uuid.UUID, platform: PlatformDep,
             principal: PrincipalDep) -> dict[str, Any]:
        principal.require("chat")
        info = tenant_of(platform, principal, tenant)
        sender = None if principal.sees_all_users else ("api", principal.chat_user)
        return gateway.get(info, message_id, sender).as_dict()

    @router.get("/messages-retention")
    def retention(tenant: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
        principal.require("tenant:read")
        info = tenant_of(platform, principal, tenant)
        return {"days": gateway.protection.retention(info.id)}

    @router.put("/messages-retention")
    def set_retention(tenant: str, body: RetentionIn, platform: PlatformDep,
                      principal: PrincipalDep) -> dict[str, Any]:
        principal.require("tenant:write")
        info = tenant_of(platform, principal, tenant)
        gateway.protection.set_retention(info.id, body.days, principal.actor)
        return {"days": body.days}

    @router.get("/agent/config")
    def config(tenant: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
        principal.require("tenant:read")
        tenant_of(platform, principal, tenant)
        return gateway.settings.get(principal.tenant_id).model_dump(mode="json")

    @router.put("/agent/config")
    def set_config(tenant: str, body: Annotated[dict[str, Any], CleanJson],
                   platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
        principal.require("tenant:write")
        # The document names the hosts that receive the tenant's bot tokens: changing it is
        # as sensitive as reading those secrets, so it needs the secrets scope as well.
        principal.require("secrets:write")
        tenant_of(platform, principal, tenant)
        return gateway.settings.set_document(principal.tenant_id, body, principal.actor) \
            .model_dump(mode="json")

    @router.put("/agent/model")
    def set_model(tenant: str, body: ModelIn, platform: PlatformDep,
                  principal: PrincipalDep) -> dict[str, Any]:
        principal.require("tenant:write")
        principal.require("secrets:write")  # base_url receives MODEL_API_KEY
        tenant_of(platform, principal, tenant)
        config = gateway.settings.set_model(principal.tenant_id, body.provider, body.base_url,
                                            body.model, principal.actor)
        return config.model.model_dump(mode="json")

    @router.post("/knowledge", status_code=201)
    async def add_knowledge(tenant: str, body: KnowledgeIn, platform: PlatformDep,
                            principal: PrincipalDep) -> dict[str, Any]:
        principal.require("tenant:write")

        def add() -> dict[str, Any]:
            info = tenant_of(platform, principal, tenant)
            result = gateway.agent_post(info, "/v1/knowledge",
                                        {"name": body.name, "content": body.content})
            with platform.db.tenant(info.id) as s:
                platform.audit.record(s, info.id, principal.actor, "agent.knowledge_added",
                                      {"document": body.name, "chunks": result.get("chunks")})
            return {"name": body.name, "chunks": result.get("chunks")}

        return await gateway.limits.run(principal.tenant_id, add)

    return router
