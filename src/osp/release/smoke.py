"""The health gate's smoke message: one governed message through the rails, end to end.

After an upgrade, "healthy" means more than a process answering ``/healthz``: the agent on
the new image must take a real message from the control plane's gateway, pass it through
the tenant's own policy (input, dialog and output rails), call a model and answer, with
every decision recorded in the tenant's trail. :class:`GovernedSmoke` sends that message.

Two models, by the operator's choice (``osp fleet upgrade --smoke-model``):

``scripted`` (default)
    A canned OpenAI-compatible model served by the control plane's internal listener
    (:func:`smoke_model_router`), which every tenant network reaches already. It echoes the
    message's nonce, so the gate knows the answer came through the model and back through
    the output rails, not from a cache or a flow. It costs the tenant nothing.
``tenant``
    The tenant's own configured model: also proves the model endpoint and key work from the
    new image, at the price of one real model call per tenant.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, Request

from osp.tenancy.service import TenantInfo

SMOKE_PATH = "/internal/v1/smoke"  # + /v1/chat/completions (OpenAI-compatible)
SMOKE_MODEL = "osp-smoke"
MODES = ("scripted", "tenant")
_NONCE = re.compile(r"\bcheck ([a-z]{4}-[a-z]{4})\b")

# (tenant, text, model section override or None) -> (status, reply); raises OspError when
# the message could not be delivered (its reason is the gate's reason).
Send = Callable[[TenantInfo, str, dict[str, Any] | None], tuple[str, str | None]]


SMOKE_USER = "osp-release-smoke"  # the channel user the smoke messages come from


class Gateway(Protocol):
    """What the smoke message needs of the control plane's gateway
    (:class:`osp.gateway.service.GatewayService`)."""

    @property
    def locator(self) -> Any: ...

    def send(self, tenant: TenantInfo, channel: str, user: str, text: str, *,
             model: dict[str, Any] | None = ...) -> Any: ...


def gateway_sender(gateway: Gateway) -> Send:
    """Send through the gateway, as every message goes: persisted, governed by the tenant's
    policy, its decisions in the tenant's trail."""

    def send(tenant: TenantInfo, text: str, model: dict[str, Any] | None
             ) -> tuple[str, str | None]:
        gateway.locator.forget(tenant.name)  # a new instance: never a cached address
        result = gateway.send(tenant, "api", SMOKE_USER, text, model=model)
        return str(result.status), result.reply

    return send


def _nonce() -> str:
    # Letters only: a hex or digit string could look like a secret or a phone number to
    # the input rails and be masked, and the gate could not find it in the reply.
    letters = "abcdefghjkmnpqrstuvwxyz"
    return "-".join("".join(secrets.choice(letters) for _ in range(4)) for _ in range(2))


class GovernedSmoke:
    def __init__(self, send: Send, mode: str, scripted_base_url: str) -> None:
        if mode not in MODES:
            raise ValueError(f"--smoke-model must be one of {', '.join(MODES)}")
        self.send = send
        self.mode = mode
        self.scripted_base_url = scripted_base_url

    def __call__(self, tenant: TenantInfo) -> str | None:
        """None when the message was answered through the rails, else the reason."""
        nonce = _nonce()
        text = f"Release health check {nonce}: please reply with a short greeting."
        model = None
        if self.mode == "scripted":
            model = {"provider": "openai", "base_url": self.scripted_base_url,
                     "model": SMOKE_MODEL, "timeout_s": 20, "retries": 0}
        try:
            status, reply = self.send(tenant, text, model)
        except ValueError as exc:  # the tenant's document with the scripted model is invalid
            return f"smoke message not sent: {str(exc).splitlines()[0][:160]}"
        if status != "answered":
            return f"smoke message {status}: {(reply or '')[:120]}"
        if self.mode == "scripted" and nonce not in (reply or ""):
            return "smoke message answered without the scripted model's reply"
        return None


def smoke_model_router() -> APIRouter:
    """The scripted model on the internal listener. It answers every chat completion with
    a greeting that echoes the smoke nonce; it reads nothing else, keeps nothing and holds
    no data, so a tenant calling it learns nothing (the Authorization header, the tenant's
    own model key when it has one, is never read)."""
    router = APIRouter()

    @router.post(SMOKE_PATH + "/v1/chat/completions")
    async def complete(request: Request) -> dict[str, Any]:
        nonce = ""
        try:
            body = await request.json()
            messages = body.get("messages") if isinstance(body, dict) else None
            for message in reversed(messages if isinstance(messages, list) else []):
                if isinstance(message, dict) and message.get("role") == "user":
                    found = _NONCE.search(str(message.get("content", ""))[:2000])
                    nonce = found.group(1) if found else ""
                    break
        except ValueError:
            pass
        text = f"Hello, health check {nonce} passed." if nonce else "Hello."
        return {"id": "chatcmpl-osp-smoke", "object": "chat.completion", "model": SMOKE_MODEL,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}]}

    return router
