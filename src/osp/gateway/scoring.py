"""The shared scorer on the internal listener, for the rails that stay inside the agent.

``POST /internal/v1/governance/score`` ``{"text": str, "heads": [str], "context": str?}`` ->
``{"scores": {}}`` (``context``: the tenant's instructions, read with the text)

The retrieval stage runs inside the agent loop (retrieved chunks and tool results never pass
the gateway), so its semantic rail asks the control plane's one encoder here instead of
loading its own. The caller is authenticated as a booted agent of one tenant (its agent key,
instance and address, ``osp.runtime.agent_auth``); a tenant gets a bounded number of scorings
at once, so one busy or hostile agent cannot take the scorer from the others. A scorer that
cannot load answers 503 with the reason; the agent's rail then rejects the chunk
(``model_unavailable``), never passes it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from osp.errors import InvalidInput, Throttled, Unavailable
from osp.gateway.rails import GatewayRails
from osp.governance.detectors.encoder import EncoderError

HEADS = ("injection", "harmful", "document")
MAX_TEXT = 200_000  # the policy's largest max_input_chars; windows bound the work per text
MAX_CONTEXT = 20_000  # the agent config's system_prompt limit
PER_TENANT = 4  # scorings of one tenant at once

AgentAuth = Callable[[Request], uuid.UUID]


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT)
    heads: list[str] = Field(min_length=1, max_length=len(HEADS))
    context: str | None = Field(default=None, max_length=MAX_CONTEXT)


class ScoreOut(BaseModel):
    scores: dict[str, float]


class _PerTenant:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._busy: dict[uuid.UUID, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, tenant_id: uuid.UUID) -> Iterator[None]:
        with self._lock:
            if self._busy.get(tenant_id, 0) >= self.limit:
                raise Throttled("too many scorings at once for this tenant")
            self._busy[tenant_id] = self._busy.get(tenant_id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[tenant_id] -= 1
                if not self._busy[tenant_id]:
                    del self._busy[tenant_id]


def build_scoring_router(rails: GatewayRails, authenticate: AgentAuth,
                         per_tenant: int = PER_TENANT) -> APIRouter:
    router = APIRouter(prefix="/internal/v1/governance", tags=["governance"])
    limits = _PerTenant(per_tenant)

    def tenant_dep(request: Request) -> uuid.UUID:
        return authenticate(request)

    @router.post("/score", response_model=ScoreOut)
    def score(body: ScoreIn, tenant_id: uuid.UUID = Depends(tenant_dep),  # noqa: B008
              ) -> ScoreOut:
        unknown = sorted(set(body.heads) - set(HEADS))
        if unknown:
            raise InvalidInput(f"unknown head(s) {unknown}; known: {list(HEADS)}")
        with limits.slot(tenant_id):
            try:
                scorer = rails.encoders.get()
                return ScoreOut(scores=scorer.scores(body.text, tuple(body.heads),
                                                            body.context))
            except EncoderError as exc:
                raise Unavailable(f"model_unavailable: {exc}") from None

    return router
