"""Routes: chat with a tenant's agent, read a message's status, manage the agent's settings
and knowledge. Thin: parse, authorise, call the service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from osp.gateway.service import GatewayService
from osp.inputs import CleanJson, InputModel
from osp.web.deps import PlatformDep, TenantAccess, tenant_access


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
    async def send(body: MessageIn, access: Annotated[TenantAccess, tenant_access("chat")]
                   ) -> dict[str, Any]:
        info, principal = access.info, access.principal
        # Each user has their own conversation memory; a token acts as its creator.
        user = principal.chat_user

        def turn() -> dict[str, Any]:
            return gateway.send(info, "api", user, body.text, skill=body.skill).as_dict()

        # Off the shared worker pool, capped per tenant (see osp.gateway.limits).
        return await gateway.limits.run(info.id, turn)

    @router.get("/messages")
    def recent(access: Annotated[TenantAccess, tenant_access("chat")],
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[dict[str, Any]]:
        info, principal = access.info, access.principal
        sender = None if principal.sees_all_users else ("api", principal.chat_user)
        return gateway.recent(info, sender, limit)

    @router.get("/messages/{message_id}")
    def show(message_id: uuid.UUID, access: Annotated[TenantAccess, tenant_access("chat")]
             ) -> dict[str, Any]:
        info, principal = access.info, access.principal
        sender = None if principal.sees_all_users else ("api", principal.chat_user)
        return gateway.get(info, message_id, sender).as_dict()

    @router.get("/messages-retention")
    def retention(access: Annotated[TenantAccess, tenant_access("tenant:read")]
                  ) -> dict[str, Any]:
        return {"days": gateway.protection.retention(access.info.id)}

    @router.put("/messages-retention")
    def set_retention(body: RetentionIn,
                      access: Annotated[TenantAccess, tenant_access("tenant:write")]
                      ) -> dict[str, Any]:
        gateway.protection.set_retention(access.info.id, body.days, access.principal.actor)
        return {"days": body.days}

    @router.get("/agent/config")
    def config(access: Annotated[TenantAccess, tenant_access("tenant:read")]
               ) -> dict[str, Any]:
        return gateway.settings.get(access.info.id).model_dump(mode="json")

    @router.put("/agent/config")
    def set_config(body: Annotated[dict[str, Any], CleanJson],
                   # The document names the hosts that receive the tenant's bot tokens:
                   # changing it is as sensitive as reading those secrets, so it needs the
                   # secrets scope as well.
                   access: Annotated[TenantAccess, tenant_access("tenant:write",
                                                                 "secrets:write")]
                   ) -> dict[str, Any]:
        return gateway.settings.set_document(access.info.id, body, access.principal.actor) \
            .model_dump(mode="json")

    @router.put("/agent/model")
    def set_model(body: ModelIn,
                  # base_url receives MODEL_API_KEY: the secrets scope as well
                  access: Annotated[TenantAccess, tenant_access("tenant:write",
                                                                "secrets:write")]
                  ) -> dict[str, Any]:
        config = gateway.settings.set_model(access.info.id, body.provider, body.base_url,
                                            body.model, access.principal.actor)
        return config.model.model_dump(mode="json")

    @router.post("/knowledge", status_code=201)
    async def add_knowledge(body: KnowledgeIn, platform: PlatformDep,
                            access: Annotated[TenantAccess, tenant_access("tenant:write")]
                            ) -> dict[str, Any]:
        info, principal = access.info, access.principal

        def add() -> dict[str, Any]:
            result = gateway.agent_post(info, "/v1/knowledge",
                                        {"name": body.name, "content": body.content})
            with platform.db.tenant(info.id) as s:
                platform.audit.record(s, info.id, principal.actor, "agent.knowledge_added",
                                      {"document": body.name, "chunks": result.get("chunks")})
            return {"name": body.name, "chunks": result.get("chunks")}

        return await gateway.limits.run(info.id, add)

    return router
