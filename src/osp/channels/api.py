"""Webhook routes for Slack and Telegram. They carry no session or token: each request is
authenticated by the channel's own signature or secret, checked in the service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from osp.channels.service import MAX_BODY, ChannelService
from osp.web.limits import read_capped


async def _body(request: Request) -> bytes:
    # Read with the webhook's own cap while it streams: never more than MAX_BODY in memory.
    return await read_capped(request, MAX_BODY)


def build_channels_router(channels: ChannelService) -> APIRouter:
    router = APIRouter(prefix="/api/v1/channels", tags=["channels"])

    @router.post("/slack/{tenant}/events")
    async def slack(tenant: str, request: Request) -> dict[str, Any]:
        body = await _body(request)
        return await run_in_threadpool(channels.slack_event, tenant, body,
                                       {k.lower(): v for k, v in request.headers.items()})

    @router.post("/telegram/{tenant}/webhook")
    async def telegram(tenant: str, request: Request) -> dict[str, Any]:
        body = await _body(request)
        return await run_in_threadpool(channels.telegram_update, tenant, body,
                                       {k.lower(): v for k, v in request.headers.items()})

    return router
